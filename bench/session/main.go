// Command session benchmarks the gateway's session API the way the Prelude
// SDK uses it: OTP login (POST /login/otp, then /login/otp/check with a
// DPoP proof and the nonce dance) and refreshes (POST /refresh, DPoP-bound,
// the refresh token rotated each time), for many users in parallel.
//
// Phases: every user logs in (bounded concurrency); every user refreshes
// -refreshes times in a row, as fast as the gateway answers (max
// refreshes/s); then an open-loop phase sends -rate refreshes/s for
// -paced, each from an idle user, on a fixed schedule. With -redis it
// counts what the Redis server processed over the unpaced refresh phase.
// It prints a Markdown section for run-session.sh's report.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/redis/go-redis/v9"
)

type config struct {
	gateway, inboxAddr, redisAddr, label, profileURL, profileOut string
	users, concurrency, refreshes, rate, pid                     int
	paced                                                        time.Duration
	limited                                                      string // a gateway with the default limits, on the same Redis
	limitedPID, refusals                                         int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.gateway, "gateway", "", "the gateway's origin, e.g. http://127.0.0.1:8080")
	flag.StringVar(&cfg.inboxAddr, "inbox", "", "listen address of the OTP webhook the gateway sends codes to (/send)")
	flag.StringVar(&cfg.redisAddr, "redis", "", "the gateway's redis-server, to count what it processed (empty: memory store)")
	flag.StringVar(&cfg.label, "label", "memory", "store name for the report")
	flag.IntVar(&cfg.users, "users", 1000, "users, each with its own phone number and DPoP key")
	flag.IntVar(&cfg.concurrency, "c", 32, "requests in flight in the login and unpaced phases")
	flag.IntVar(&cfg.refreshes, "refreshes", 10, "refreshes per user in the unpaced phase")
	flag.IntVar(&cfg.rate, "rate", 1000, "refreshes per second in the paced phase")
	flag.DurationVar(&cfg.paced, "paced", 15*time.Second, "length of the paced phase")
	flag.IntVar(&cfg.pid, "pid", 0, "the gateway's process ID, to report its CPU time per operation")
	flag.StringVar(&cfg.profileURL, "profile-url", "", "gateway's /debug/pprof/profile URL: profile the paced phase")
	flag.StringVar(&cfg.profileOut, "profile-out", "", "where to write that profile")
	flag.StringVar(&cfg.limited, "limited", "", "origin of a gateway with the default limits on the same Redis: measure refused login starts")
	flag.IntVar(&cfg.limitedPID, "limited-pid", 0, "that gateway's process ID")
	flag.IntVar(&cfg.refusals, "refusals", 2000, "login starts sent past one client's limit")
	flag.Parse()
	if cfg.gateway == "" || cfg.inboxAddr == "" {
		log.Fatal("session: -gateway and -inbox are required")
	}
	if err := run(cfg); err != nil {
		log.Fatalf("session: %v", err)
	}
}

// bench is the shared state of one run.
type bench struct {
	cfg   config
	in    *benchkit.Inbox
	tr    *benchkit.TimingTransport
	http  *http.Client
	redis *redis.Client
}

func run(cfg config) error {
	in, err := benchkit.ServeInbox(cfg.inboxAddr, nil)
	if err != nil {
		return err
	}
	client, tr := benchkit.NewTimedClient()
	b := &bench{cfg: cfg, in: in, tr: tr, http: client}
	if cfg.redisAddr != "" {
		b.redis = redis.NewClient(&redis.Options{Addr: cfg.redisAddr, PoolSize: 1})
		defer b.redis.Close()
	}
	if err := benchkit.WaitFor(cfg.gateway + "/.well-known/jwks.json"); err != nil {
		return err
	}

	clients, login, err := b.logins()
	if err != nil {
		return err
	}
	unpaced, err := b.unpacedRefreshes(clients)
	if err != nil {
		return err
	}
	paced, err := b.pacedRefreshes(clients)
	if err != nil {
		return err
	}
	b.report(login, unpaced, paced)
	if cfg.limited != "" && b.redis != nil {
		refused, err := b.refusedStarts()
		if err != nil {
			return err
		}
		b.reportRefusals(refused)
	}
	return nil
}

// refusedStarts has one client use up its unproven sends on the limited
// gateway, then send -refusals more, and counts what Redis processed for
// those (nothing else uses Redis meanwhile).
func (b *bench) refusedStarts() (*phaseResult, error) {
	c := sessionclient.New(b.cfg.limited)
	c.HTTP = b.http
	runID := time.Now().UnixNano() / 1000 % 10000
	for i := 0; ; i++ {
		resp, err := c.StartLogin("phone_number", phone(runID, 9000+i))
		if err != nil {
			return nil, err
		}
		if resp.Status == http.StatusTooManyRequests {
			break
		}
		if i > 100 {
			return nil, fmt.Errorf("the limited gateway accepted %d starts from one client", i)
		}
	}
	// Warm up: the gateway's Redis pool opens its connections (HELLO,
	// SELECT) for this concurrency before the count starts.
	benchkit.Parallel(4*b.cfg.concurrency, b.cfg.concurrency, func(i int) {
		_, _ = c.StartLogin("phone_number", phone(runID, 8000+i))
	})
	res := &phaseResult{rec: benchkit.NewRecorder(), ops: b.cfg.refusals}
	m, err := benchkit.StartMeter(context.Background(), b.tr, res.rec, b.cfg.limitedPID, b.redis)
	if err != nil {
		return nil, err
	}
	benchkit.Parallel(b.cfg.refusals, b.cfg.concurrency, func(i int) {
		resp, err := c.StartLogin("phone_number", phone(runID, i))
		res.check(resp, err, http.StatusTooManyRequests)
	})
	if res.Measured, err = m.Stop(res.ops); err != nil {
		return nil, err
	}
	return res, nil
}

func (b *bench) reportRefusals(p *phaseResult) {
	w := os.Stdout
	s := p.rec.Summary("/login/otp 429")
	cpu := "n/a"
	if b.cfg.limitedPID != 0 {
		cpu = fmt.Sprintf("%.3f", p.CPU.Seconds()*1000/float64(p.ops))
	}
	fmt.Fprintf(w, "#### Login starts past one client's limit (default limits, Redis store)\n\n")
	fmt.Fprintf(w, "%d starts from one client that had used its 20 unproven codes, %d in flight: %.0f refusals/s, p50 %s ms, p99 %s ms, gateway CPU %s ms each, %s; Redis: **%.3f round trips per refused start** (%s).\n\n",
		p.ops, b.cfg.concurrency, float64(p.ops)/p.Wall.Seconds(), benchkit.MS(s.P50), benchkit.MS(s.P99), cpu,
		benchkit.Failures(p.errors, p.firstErr), p.Redis.RoundTrips, p.Redis.Detail)
	fmt.Fprintln(w, "| goal | measured | met |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	fmt.Fprintf(w, "| a login start refused past the limit costs at most one store round trip | %.3f | %s |\n\n", p.Redis.RoundTrips, benchkit.Yes(p.Redis.RoundTrips < 1.005 && p.errors == 0))
}

// phaseResult is what a phase measured.
type phaseResult struct {
	rec      *benchkit.Recorder
	ops      int
	mu       sync.Mutex // guards errors and firstErr
	errors   int
	firstErr string
	benchkit.Measured
	extra string
}

// check says whether an operation succeeded (no error, one of the wanted
// statuses) and counts it as a failure if not.
func (p *phaseResult) check(resp *sessionclient.Response, err error, want ...int) bool {
	if err == nil && slices.Contains(want, resp.Status) {
		return true
	}
	var msg string
	if err != nil {
		msg = err.Error()
	} else {
		msg = resp.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errors++
	if p.firstErr == "" {
		p.firstErr = msg
	}
	return false
}

// phone is user i's number: distinct per user and per run, as the gateway
// caps codes per destination (10 an hour).
func phone(run int64, i int) string { return fmt.Sprintf("+1555%04d%04d", run%10000, i) }

func (b *bench) logins() ([]*sessionclient.Client, *phaseResult, error) {
	res := &phaseResult{rec: benchkit.NewRecorder(), ops: b.cfg.users}
	clients := make([]*sessionclient.Client, b.cfg.users)
	runID := time.Now().UnixNano() / 1000 % 10000
	m, err := benchkit.StartMeter(context.Background(), b.tr, res.rec, b.cfg.pid, b.redis)
	if err != nil {
		return nil, nil, err
	}
	benchkit.Parallel(b.cfg.users, b.cfg.concurrency, func(i int) {
		c := sessionclient.New(b.cfg.gateway)
		c.HTTP = b.http
		resp, err := b.in.LoginByPhone(c, phone(runID, i))
		if res.check(resp, err, 200, 204) {
			clients[i] = c
		}
	})
	if res.Measured, err = m.Stop(res.ops); err != nil {
		return nil, nil, err
	}
	var ok []*sessionclient.Client
	for _, c := range clients {
		if c != nil {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		return nil, nil, fmt.Errorf("no user could log in: %s", res.firstErr)
	}
	return ok, res, nil
}

func (b *bench) unpacedRefreshes(clients []*sessionclient.Client) (*phaseResult, error) {
	res := &phaseResult{rec: benchkit.NewRecorder(), ops: len(clients) * b.cfg.refreshes}
	m, err := benchkit.StartMeter(context.Background(), b.tr, res.rec, b.cfg.pid, b.redis)
	if err != nil {
		return nil, err
	}
	benchkit.Parallel(len(clients), b.cfg.concurrency, func(i int) {
		for k := 0; k < b.cfg.refreshes; k++ {
			resp, err := clients[i].Refresh("")
			res.check(resp, err, 200)
		}
	})
	if res.Measured, err = m.Stop(res.ops); err != nil {
		return nil, err
	}
	return res, nil
}

// fromScheduled labels the paced refreshes' latency counted from their
// scheduled time.
const fromScheduled = "/refresh from its scheduled time"

// pacedRefreshes sends refreshes on a fixed schedule, whatever the
// answers' latency (open loop), each from a user with no refresh in
// flight. Latency counts from the scheduled time, so a late start is
// not hidden (no coordinated omission).
func (b *bench) pacedRefreshes(clients []*sessionclient.Client) (*phaseResult, error) {
	n := int(b.cfg.paced.Seconds() * float64(b.cfg.rate))
	res := &phaseResult{rec: benchkit.NewRecorder(), ops: n}
	scheduled := benchkit.NewRecorder()
	idle := make(chan *sessionclient.Client, len(clients))
	for _, c := range clients {
		idle <- c
	}
	profile := b.startProfile()
	var wg sync.WaitGroup
	var late atomic.Int64 // sends that left more than 1 ms after their time
	interval := time.Second / time.Duration(b.cfg.rate)
	m, err := benchkit.StartMeter(context.Background(), b.tr, res.rec, b.cfg.pid, nil)
	if err != nil {
		return nil, err
	}
	start := m.Start()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		c := <-idle
		if time.Since(at) > time.Millisecond {
			late.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Refresh("")
			scheduled.Add(fromScheduled, time.Since(at))
			idle <- c
			res.check(resp, err, 200)
		}()
	}
	sendWall := time.Since(start)
	wg.Wait()
	if res.Measured, err = m.Stop(res.ops); err != nil {
		return nil, err
	}
	s := scheduled.Summary(fromScheduled)
	res.extra = fmt.Sprintf("sent %d in %.2f s (%.0f/s offered as scheduled, %d sends more than 1 ms late); from the scheduled time: p50 %s ms, p99 %s ms, max %s ms",
		n, sendWall.Seconds(), float64(n)/sendWall.Seconds(), late.Load(), benchkit.MS(s.P50), benchkit.MS(s.P99), benchkit.MS(s.Max))
	res.rec.Merge(scheduled, fromScheduled)
	if err := profile(); err != nil {
		log.Printf("session: profile: %v", err)
	}
	return res, nil
}

// startProfile fetches a CPU profile of the gateway covering the paced
// phase, if asked; the returned func waits for it.
func (b *bench) startProfile() func() error {
	secs := int(b.cfg.paced.Seconds()) - 1
	if secs < 1 {
		secs = 1
	}
	return benchkit.StartProfile(b.cfg.profileURL, b.cfg.profileOut, secs)
}

func (b *bench) report(login, unpaced, paced *phaseResult) {
	w := os.Stdout
	fmt.Fprintf(w, "#### Sessions, %s store\n\n", b.cfg.label)
	fmt.Fprintf(w, "%d users (distinct phone numbers and DPoP keys), %d requests in flight in the login and unpaced phases.\n\n", b.cfg.users, b.cfg.concurrency)
	fmt.Fprintln(w, "| phase | operations | wall s | ops/s | gateway CPU ms/op | failures |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	row := func(name string, p *phaseResult) {
		cpu := "n/a"
		if b.cfg.pid != 0 {
			cpu = fmt.Sprintf("%.3f", p.CPU.Seconds()*1000/float64(p.ops))
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %.0f | %s | %s |\n", name, p.ops, p.Wall.Seconds(), float64(p.ops)/p.Wall.Seconds(), cpu, benchkit.Failures(p.errors, p.firstErr))
	}
	row("logins (login/otp + login/otp/check)", login)
	row(fmt.Sprintf("refreshes, unpaced (%d per user in a row)", b.cfg.refreshes), unpaced)
	row(fmt.Sprintf("refreshes, paced at %d/s for %s", b.cfg.rate, b.cfg.paced), paced)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latency per request (sent → body read), by endpoint under `/v1/session` and status; the `400` of `login/otp/check` is the first proof without a nonce (`use_dpop_nonce`), which the SDK sends too.")
	fmt.Fprintln(w)
	benchkit.WriteLatencyHeader(w)
	benchkit.WriteLatencyRows(w, "login", login.rec)
	benchkit.WriteLatencyRows(w, "unpaced", unpaced.rec)
	benchkit.WriteLatencyRows(w, "paced", paced.rec)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Paced phase: %s.\n\n", paced.extra)
	if unpaced.Redis != nil {
		fmt.Fprintf(w, "Redis, counted by the server (`INFO stats` `total_reads_processed`: one per request or pipeline a client sends, i.e. per round trip; `INFO commandstats`, which also counts the commands a Lua script calls inside its EVALSHA): over the unpaced refresh phase, divided by %d refreshes, **%.3f round trips per refresh** (%s); over the login phase, divided by %d logins, %.2f round trips per login (%s).\n\n",
			unpaced.ops, unpaced.Redis.RoundTrips, unpaced.Redis.Detail, login.ops, login.Redis.RoundTrips, login.Redis.Detail)
		ps := paced.rec.Summary("/refresh 200")
		rate := float64(paced.ops) / paced.Wall.Seconds()
		fmt.Fprintln(w, "| goal (Redis) | measured | met |")
		fmt.Fprintln(w, "| --- | --- | --- |")
		fmt.Fprintf(w, "| refresh p99 < 5 ms at 1,000 refreshes/s | p99 %s ms at %.0f/s achieved (%d failures) | %s |\n", benchkit.MS(ps.P99), rate, paced.errors, benchkit.Yes(ps.P99 < 5*time.Millisecond && rate >= 0.98*1000 && paced.errors == 0))
		// A few thousandths above a whole number are go-redis loading a
		// script (EVALSHA answered NOSCRIPT, then EVAL) the first time.
		fmt.Fprintf(w, "| ≤ 2 Redis round trips per refresh | %.3f | %s |\n\n", unpaced.Redis.RoundTrips, benchkit.Yes(unpaced.Redis.RoundTrips < 2.005))
	}
}
