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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/redis/go-redis/v9"
)

type config struct {
	gateway, inboxAddr, redisAddr, label, profileURL, profileOut string
	users, concurrency, refreshes, rate, pid                     int
	paced                                                        time.Duration
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
	in    *inbox
	tr    *timingTransport
	http  *http.Client
	redis *redis.Client
}

func run(cfg config) error {
	in, err := serveInbox(cfg.inboxAddr)
	if err != nil {
		return err
	}
	tr := &timingTransport{next: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}}
	b := &bench{cfg: cfg, in: in, tr: tr, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	if cfg.redisAddr != "" {
		b.redis = redis.NewClient(&redis.Options{Addr: cfg.redisAddr, PoolSize: 1})
		defer b.redis.Close()
	}
	if err := waitFor(cfg.gateway + "/.well-known/jwks.json"); err != nil {
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
	return nil
}

func waitFor(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not answering: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// phaseResult is what a phase measured.
type phaseResult struct {
	rec      *recorder
	ops      int
	errors   int
	firstErr string
	wall     time.Duration
	redis    *perOp
	extra    string
	cpu      time.Duration // the gateway's CPU time over the phase
}

func (p *phaseResult) fail(msg string) {
	p.errors++
	if p.firstErr == "" {
		p.firstErr = msg
	}
}

// parallel runs f(i) for i in [0,n) on c workers.
func parallel(n, c int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// phone is user i's number: distinct per user and per run, as the gateway
// caps codes per destination (10 an hour).
func phone(run int64, i int) string { return fmt.Sprintf("+1555%04d%04d", run%10000, i) }

func (b *bench) logins() ([]*sessionclient.Client, *phaseResult, error) {
	res := &phaseResult{rec: newRecorder(), ops: b.cfg.users}
	clients := make([]*sessionclient.Client, b.cfg.users)
	runID := time.Now().UnixNano() / 1000 % 10000
	ctx := context.Background()
	var before redisCounters
	if b.redis != nil {
		var err error
		if before, err = snapshot(ctx, b.redis); err != nil {
			return nil, nil, err
		}
	}
	var mu sync.Mutex
	cpu0 := cpuTime(b.cfg.pid)
	b.tr.phase.Store(res.rec)
	start := time.Now()
	parallel(b.cfg.users, b.cfg.concurrency, func(i int) {
		c := sessionclient.New(b.cfg.gateway)
		c.HTTP = b.http
		to := phone(runID, i)
		resp, err := c.StartLogin("phone_number", to)
		if err == nil && resp.Status == 204 {
			resp, err = c.CheckLogin(b.in.code(to))
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			res.fail(err.Error())
		case resp.Status != 200 && resp.Status != 204:
			res.fail(resp.Error())
		default:
			clients[i] = c
		}
	})
	res.wall = time.Since(start)
	res.cpu = cpuTime(b.cfg.pid) - cpu0
	b.tr.phase.Store(nil)
	if b.redis != nil {
		after, err := snapshot(ctx, b.redis)
		if err != nil {
			return nil, nil, err
		}
		d := delta(before, after, res.ops)
		res.redis = &d
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
	res := &phaseResult{rec: newRecorder(), ops: len(clients) * b.cfg.refreshes}
	var before redisCounters
	ctx := context.Background()
	if b.redis != nil {
		var err error
		if before, err = snapshot(ctx, b.redis); err != nil {
			return nil, err
		}
	}
	var mu sync.Mutex
	cpu0 := cpuTime(b.cfg.pid)
	b.tr.phase.Store(res.rec)
	start := time.Now()
	parallel(len(clients), b.cfg.concurrency, func(i int) {
		for k := 0; k < b.cfg.refreshes; k++ {
			resp, err := clients[i].Refresh("")
			if err != nil || resp.Status != 200 {
				mu.Lock()
				if err != nil {
					res.fail(err.Error())
				} else {
					res.fail(resp.Error())
				}
				mu.Unlock()
			}
		}
	})
	res.wall = time.Since(start)
	res.cpu = cpuTime(b.cfg.pid) - cpu0
	b.tr.phase.Store(nil)
	if b.redis != nil {
		after, err := snapshot(ctx, b.redis)
		if err != nil {
			return nil, err
		}
		d := delta(before, after, res.ops)
		res.redis = &d
	}
	return res, nil
}

// pacedRefreshes sends refreshes on a fixed schedule, whatever the
// answers' latency (open loop), each from a user with no refresh in
// flight. Latency counts from the scheduled time, so a late start is
// not hidden (no coordinated omission).
func (b *bench) pacedRefreshes(clients []*sessionclient.Client) (*phaseResult, error) {
	n := int(b.cfg.paced.Seconds() * float64(b.cfg.rate))
	res := &phaseResult{rec: newRecorder(), ops: n}
	scheduled := newRecorder()
	idle := make(chan *sessionclient.Client, len(clients))
	for _, c := range clients {
		idle <- c
	}
	profile := b.startProfile()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var late atomic.Int64 // sends that left more than 1 ms after their time
	interval := time.Second / time.Duration(b.cfg.rate)
	cpu0 := cpuTime(b.cfg.pid)
	b.tr.phase.Store(res.rec)
	start := time.Now()
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
			scheduled.add("/refresh from its scheduled time", time.Since(at))
			idle <- c
			if err != nil || resp.Status != 200 {
				mu.Lock()
				if err != nil {
					res.fail(err.Error())
				} else {
					res.fail(resp.Error())
				}
				mu.Unlock()
			}
		}()
	}
	sendWall := time.Since(start)
	wg.Wait()
	res.wall = time.Since(start)
	res.cpu = cpuTime(b.cfg.pid) - cpu0
	b.tr.phase.Store(nil)
	s := scheduled.summary("/refresh from its scheduled time")
	res.extra = fmt.Sprintf("sent %d in %.2f s (%.0f/s offered as scheduled, %d sends more than 1 ms late); from the scheduled time: p50 %s ms, p99 %s ms, max %s ms",
		n, sendWall.Seconds(), float64(n)/sendWall.Seconds(), late.Load(), ms(s.p50), ms(s.p99), ms(s.pmax))
	res.rec.mu.Lock()
	res.rec.byOp["/refresh from its scheduled time"] = scheduled.byOp["/refresh from its scheduled time"]
	res.rec.mu.Unlock()
	profile()
	return res, nil
}

// startProfile fetches a CPU profile of the gateway covering the paced
// phase, if asked; the returned func waits for it.
func (b *bench) startProfile() func() {
	if b.cfg.profileURL == "" || b.cfg.profileOut == "" {
		return func() {}
	}
	secs := int(b.cfg.paced.Seconds()) - 1
	if secs < 1 {
		secs = 1
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("%s?seconds=%d", b.cfg.profileURL, secs))
		if err != nil {
			log.Printf("session: profile: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(b.cfg.profileOut)
		if err != nil {
			log.Printf("session: profile: %v", err)
			return
		}
		defer f.Close()
		_, _ = f.ReadFrom(resp.Body)
	}()
	return func() { <-done }
}

func (b *bench) report(login, unpaced, paced *phaseResult) {
	w := os.Stdout
	fmt.Fprintf(w, "#### Sessions, %s store\n\n", b.cfg.label)
	fmt.Fprintf(w, "%d users (distinct phone numbers and DPoP keys), %d requests in flight in the login and unpaced phases.\n\n", b.cfg.users, b.cfg.concurrency)
	fmt.Fprintln(w, "| phase | operations | wall s | ops/s | gateway CPU ms/op | failures |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	row := func(name string, p *phaseResult) {
		failures := fmt.Sprint(p.errors)
		if p.firstErr != "" {
			failures += fmt.Sprintf(" (first: `%.120s`)", strings.ReplaceAll(p.firstErr, "\n", " "))
		}
		cpu := "n/a"
		if b.cfg.pid != 0 {
			cpu = fmt.Sprintf("%.3f", p.cpu.Seconds()*1000/float64(p.ops))
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %.0f | %s | %s |\n", name, p.ops, p.wall.Seconds(), float64(p.ops)/p.wall.Seconds(), cpu, failures)
	}
	row("logins (login/otp + login/otp/check)", login)
	row(fmt.Sprintf("refreshes, unpaced (%d per user in a row)", b.cfg.refreshes), unpaced)
	row(fmt.Sprintf("refreshes, paced at %d/s for %s", b.cfg.rate, b.cfg.paced), paced)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latency per request (sent → body read), by endpoint under `/v1/session` and status; the `400` of `login/otp/check` is the first proof without a nonce (`use_dpop_nonce`), which the SDK sends too.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | request | n | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, p := range []struct {
		name string
		r    *phaseResult
	}{{"login", login}, {"unpaced", unpaced}, {"paced", paced}} {
		for _, l := range p.r.rec.labels() {
			s := p.r.rec.summary(l)
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s |\n", p.name, l, s.n, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.pmax))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Paced phase: %s.\n\n", paced.extra)
	if unpaced.redis != nil {
		fmt.Fprintf(w, "Redis, counted by the server (`INFO stats` `total_reads_processed`: one per request or pipeline a client sends, i.e. per round trip; `INFO commandstats`, which also counts the commands a Lua script calls inside its EVALSHA): over the unpaced refresh phase, divided by %d refreshes, **%.3f round trips per refresh** (%s); over the login phase, divided by %d logins, %.2f round trips per login (%s).\n\n",
			unpaced.ops, unpaced.redis.roundTrips, unpaced.redis.detail, login.ops, login.redis.roundTrips, login.redis.detail)
		ps := paced.rec.summary("/refresh 200")
		rate := float64(paced.ops) / paced.wall.Seconds()
		fmt.Fprintln(w, "| goal (Redis) | measured | met |")
		fmt.Fprintln(w, "| --- | --- | --- |")
		fmt.Fprintf(w, "| refresh p99 < 5 ms at 1,000 refreshes/s | p99 %s ms at %.0f/s achieved (%d failures) | %s |\n", ms(ps.p99), rate, paced.errors, yes(ps.p99 < 5*time.Millisecond && rate >= 0.98*1000 && paced.errors == 0))
		// A few thousandths above a whole number are go-redis loading a
		// script (EVALSHA answered NOSCRIPT, then EVAL) the first time.
		fmt.Fprintf(w, "| ≤ 2 Redis round trips per refresh | %.3f | %s |\n\n", unpaced.redis.roundTrips, yes(unpaced.redis.roundTrips < 2.005))
	}
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
