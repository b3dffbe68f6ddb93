// Command stepup benchmarks complete step-up flows against the gateway, as
// the Prelude SDK and an app drive them: a logged-in user asks for
// transfer:write (POST /v1/session/stepup/request, which calls the
// delegation hook), has the SMS code sent (/otp), checks it (/otp/check,
// challenge-bound DPoP proof), redeems the completed challenge (/refresh
// with step_up_token), calls the protected route once (200, the
// single-use grant spent) and once more (401).
//
// Users log in first (not timed), one flow per user (the gateway caps open
// challenges per user). The OTP webhook, the hook and the upstream run in
// this process. With -redis it also counts, on the Redis server, what one
// flow and one protected call cost. It prints a Markdown section for
// run-session.sh's report.
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

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/redis/go-redis/v9"
)

type config struct {
	gateway, inboxAddr, hookAddr, upstreamAddr, redisAddr, profileURL, profileOut string
	plain                                                                         string
	flows, concurrency, rtCalls, rate, pid, plainPID, plainN                      int
	paced                                                                         time.Duration
	trace                                                                         bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.gateway, "gateway", "", "the gateway's origin")
	flag.StringVar(&cfg.inboxAddr, "inbox", "", "listen address of the OTP webhook (/send)")
	flag.StringVar(&cfg.hookAddr, "hook", "", "listen address of the delegation hook (/hook)")
	flag.StringVar(&cfg.upstreamAddr, "upstream", "", "listen address of the protected API")
	flag.StringVar(&cfg.redisAddr, "redis", "", "the gateway's redis-server, to count what it processed")
	flag.IntVar(&cfg.flows, "flows", 3000, "flows of the unpaced phase, one per user")
	flag.IntVar(&cfg.concurrency, "c", 16, "flows in flight")
	flag.IntVar(&cfg.rate, "rate", 300, "flows started per second in the paced phase")
	flag.DurationVar(&cfg.paced, "paced", 10*time.Second, "length of the paced phase")
	flag.IntVar(&cfg.rtCalls, "rt-calls", 300, "protected calls in the round-trip count")
	flag.IntVar(&cfg.pid, "pid", 0, "the gateway's process ID, to report its CPU time per flow")
	flag.StringVar(&cfg.profileURL, "profile-url", "", "gateway's /debug/pprof/profile URL: profile the unpaced flows")
	flag.StringVar(&cfg.profileOut, "profile-out", "", "where to write that profile")
	flag.StringVar(&cfg.plain, "plain", "", "origin of a plain Caddy (reverse_proxy to -upstream): its CPU per request is the unit of a flow's")
	flag.IntVar(&cfg.plainPID, "plain-pid", 0, "the plain Caddy's process ID")
	flag.IntVar(&cfg.plainN, "plain-requests", 20000, "requests of each plain measurement (before and after the unpaced flows)")
	flag.BoolVar(&cfg.trace, "trace", false, "only one login and one flow, with ECHO markers before each request on -redis (for MONITOR)")
	flag.Parse()
	if cfg.gateway == "" || cfg.inboxAddr == "" || cfg.hookAddr == "" || cfg.upstreamAddr == "" {
		log.Fatal("stepup: -gateway, -inbox, -hook and -upstream are required")
	}
	if err := run(cfg); err != nil {
		log.Fatalf("stepup: %v", err)
	}
}

type bench struct {
	cfg   config
	in    *benchkit.Inbox
	sent  *benchkit.Recorder // the OTP webhook's own times
	hook  *hook
	api   *upstream
	tr    *benchkit.TimingTransport
	http  *http.Client
	redis *redis.Client
}

// browserUser is one logged-in browser.
type browserUser struct {
	c     *sessionclient.Client
	phone string
	sub   string
}

func run(cfg config) error {
	b := &bench{cfg: cfg, sent: benchkit.NewRecorder()}
	var err error
	if b.in, err = benchkit.ServeInbox(cfg.inboxAddr, b.sent); err != nil {
		return err
	}
	if b.hook, err = serveHook(cfg.hookAddr); err != nil {
		return err
	}
	if b.api, err = serveUpstream(cfg.upstreamAddr); err != nil {
		return err
	}
	b.http, b.tr = benchkit.NewTimedClient()
	if cfg.redisAddr != "" {
		b.redis = redis.NewClient(&redis.Options{Addr: cfg.redisAddr, PoolSize: 1})
		defer b.redis.Close()
	}
	if err := benchkit.WaitFor(cfg.gateway + "/.well-known/jwks.json"); err != nil {
		return err
	}
	if cfg.trace {
		if b.redis == nil {
			return fmt.Errorf("-trace needs -redis")
		}
		return b.trace()
	}
	paced := int(cfg.paced.Seconds() * float64(cfg.rate))
	users, err := b.logins(cfg.flows + paced + cfg.rtCalls)
	if err != nil {
		return err
	}
	var plain *plainCost
	measurePlain := func() error {
		if cfg.plain == "" || cfg.plainPID == 0 {
			return nil
		}
		if plain == nil {
			plain = &plainCost{n: cfg.plainN}
		}
		ms, err := b.plainRequests(cfg.plainN)
		plain.cpu = append(plain.cpu, ms)
		return err
	}
	if err := measurePlain(); err != nil {
		return err
	}
	unpacedFlows, err := b.flows(users[:cfg.flows], 0, true)
	if err != nil {
		return err
	}
	if err := measurePlain(); err != nil {
		return err
	}
	pacedFlows, err := b.flows(users[cfg.flows:cfg.flows+paced], cfg.rate, false)
	if err != nil {
		return err
	}
	var calls *callCosts
	var endpoints []endpointCost
	if b.redis != nil {
		if calls, err = b.protectedCallCosts(users[cfg.flows+paced:]); err != nil {
			return err
		}
		if endpoints, err = b.endpointCosts(cfg.rtCalls); err != nil {
			return err
		}
	}
	b.report(unpacedFlows, pacedFlows, calls)
	if plain != nil {
		writePlainUnit(os.Stdout, plain, unpacedFlows, cfg.concurrency)
	}
	if endpoints != nil {
		writeEndpointCosts(os.Stdout, cfg.rtCalls, cfg.concurrency, endpoints)
	}
	return nil
}

// logins logs n users in, untimed; each has its own phone number (codes
// are capped per destination) and DPoP key.
func (b *bench) logins(n int) ([]*browserUser, error) {
	users := make([]*browserUser, n)
	runID := time.Now().UnixNano() / 1000 % 10000
	var failed atomic.Int64
	var firstErr atomic.Value
	benchkit.Parallel(n, 32, func(i int) {
		c := sessionclient.New(b.cfg.gateway)
		c.HTTP = b.http
		to := fmt.Sprintf("+1666%04d%04d", runID, i)
		resp, err := b.in.LoginByPhone(c, to)
		if err == nil && resp.Status == 200 {
			sub, _ := sessionclient.Claims(c.AccessToken)["sub"].(string)
			users[i] = &browserUser{c: c, phone: to, sub: sub}
			return
		}
		failed.Add(1)
		if err == nil {
			err = resp
		}
		firstErr.CompareAndSwap(nil, err.Error())
	})
	if failed.Load() > 0 {
		return nil, fmt.Errorf("%d of %d logins failed, first: %v", failed.Load(), n, firstErr.Load())
	}
	return users, nil
}

// flowResult is what the timed flows measured.
type flowResult struct {
	rec       *benchkit.Recorder // per request, by endpoint and status
	gateway   *benchkit.Recorder // stepup/request minus the hook's own time
	n, failed int
	firstErr  string
	benchkit.Measured
	hook     *benchkit.Recorder // the hook's own time
	sender   *benchkit.Recorder // the OTP webhook's own time
	rate     int                // flows started per second; 0: unpaced
	upstream int64              // calls that reached the upstream
}

// stepUp runs a flow up to the stepped-up access token. It returns the
// stepup/request latency less the hook's own time.
func (b *bench) stepUp(u *browserUser) (time.Duration, error) {
	start := time.Now()
	resp, err := u.c.RequestStepUp("transfer:write", nil)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	ct := resp.String("challenge_token")
	if resp.Status != 200 || resp.String("status") != "review" || ct == "" {
		return 0, fmt.Errorf("stepup/request: %w", resp)
	}
	own, ok := b.hook.ownTime(u.sub)
	if !ok {
		return 0, fmt.Errorf("stepup/request answered without calling the hook")
	}
	if resp, err = u.c.SendOTP(ct); err != nil || resp.Status != 204 {
		return 0, fmt.Errorf("otp: %v %v", resp, err)
	}
	if resp, err = u.c.CheckOTP(ct, b.in.Code(u.phone)); err != nil || resp.Status != 200 {
		return 0, fmt.Errorf("otp/check: %v %v", resp, err)
	}
	completed := resp.String("challenge_token")
	if resp, err = u.c.Refresh(completed); err != nil || resp.Status != 200 {
		return 0, fmt.Errorf("refresh with step_up_token: %v %v", resp, err)
	}
	if _, granted := sessionclient.Claims(u.c.AccessToken)["grt"]; !granted {
		return 0, fmt.Errorf("the stepped-up access token has no grant")
	}
	return took - own, nil
}

// transfer calls the protected route and checks the status.
func (b *bench) transfer(u *browserUser, want int) error {
	resp, err := u.c.Do(sessionclient.Request{Method: "POST", Path: "/api/transfers", Bearer: true,
		Body: map[string]string{"amount": "500", "currency": "USD"}})
	if err != nil {
		return err
	}
	if resp.Status != want {
		return fmt.Errorf("/api/transfers: want %d, %w", want, resp)
	}
	return nil
}

// flows runs one flow per user: with rate 0, on -c workers as fast as the
// gateway answers; otherwise open loop, a flow started every 1/rate s
// whatever the answers' latency.
func (b *bench) flows(users []*browserUser, rate int, profile bool) (*flowResult, error) {
	res := &flowResult{rec: benchkit.NewRecorder(), gateway: benchkit.NewRecorder(), n: len(users), rate: rate}
	hitsBefore := b.api.hits.Load()
	b.hook.rec.Take()
	b.sent.Take()
	stopProfile := func() error { return nil }
	if profile {
		// A 5 s CPU profile of the gateway during the flows.
		stopProfile = benchkit.StartProfile(b.cfg.profileURL, b.cfg.profileOut, 5)
	}
	var mu sync.Mutex
	flow := func(u *browserUser) {
		began := time.Now()
		gw, err := b.stepUp(u)
		if err == nil {
			res.gateway.Add("/stepup/request 200 minus the hook's own time", gw)
			err = b.transfer(u, 200)
		}
		if err == nil {
			err = b.transfer(u, 401)
		}
		if err == nil {
			res.gateway.Add("whole flow (6 requests)", time.Since(began))
			return
		}
		mu.Lock()
		res.failed++
		if res.firstErr == "" {
			res.firstErr = err.Error()
		}
		mu.Unlock()
	}
	m, err := benchkit.StartMeter(context.Background(), b.tr, res.rec, b.cfg.pid, b.redis)
	if err != nil {
		return nil, err
	}
	start := m.Start()
	if rate == 0 {
		benchkit.Parallel(len(users), b.cfg.concurrency, func(i int) { flow(users[i]) })
	} else {
		var wg sync.WaitGroup
		interval := time.Second / time.Duration(rate)
		for i, u := range users {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				flow(u)
			}()
		}
		wg.Wait()
	}
	if res.Measured, err = m.Stop(res.n); err != nil {
		return nil, err
	}
	if err := stopProfile(); err != nil {
		log.Printf("stepup: profile: %v", err)
	}
	res.hook = b.hook.rec.Take()
	res.sender = b.sent.Take()
	res.upstream = b.api.hits.Load() - hitsBefore
	return res, nil
}

// callCosts is what one protected call costs on the Redis server: with a
// live single-use grant (consumed), and again with the same token.
type callCosts struct {
	n             int
	first, second benchkit.PerOp
}

func (b *bench) protectedCallCosts(users []*browserUser) (*callCosts, error) {
	ctx := context.Background()
	var firstErr atomic.Value
	benchkit.Parallel(len(users), b.cfg.concurrency, func(i int) {
		if _, err := b.stepUp(users[i]); err != nil {
			firstErr.CompareAndSwap(nil, err.Error())
		}
	})
	if e := firstErr.Load(); e != nil {
		return nil, fmt.Errorf("preparing the round-trip count: %v", e)
	}
	costs := &callCosts{n: len(users)}
	for _, phase := range []struct {
		want int
		into *benchkit.PerOp
	}{{200, &costs.first}, {401, &costs.second}} {
		before, err := benchkit.Snapshot(ctx, b.redis)
		if err != nil {
			return nil, err
		}
		benchkit.Parallel(len(users), b.cfg.concurrency, func(i int) {
			if err := b.transfer(users[i], phase.want); err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
			}
		})
		if e := firstErr.Load(); e != nil {
			return nil, fmt.Errorf("round-trip count: %v", e)
		}
		after, err := benchkit.Snapshot(ctx, b.redis)
		if err != nil {
			return nil, err
		}
		*phase.into = benchkit.Delta(before, after, len(users))
	}
	return costs, nil
}

func (b *bench) report(unpaced, paced *flowResult, calls *callCosts) {
	w := os.Stdout
	fmt.Fprintf(w, "#### Step-up flows, Redis store\n\n")
	fmt.Fprintf(w, "One flow per logged-in user (users log in first, not timed); each: `stepup/request` (the hook answers review, `verify_sms`, single-use grant for 300 s) → `otp` → `otp/check` → `refresh` with `step_up_token` → `POST /api/transfers` (200) → the same again (401). Unpaced: %d flows in flight, as fast as the gateway answers. Paced: a flow started every 1/%d s for %s, whatever the answers' latency.\n\n", b.cfg.concurrency, b.cfg.rate, b.cfg.paced)
	fmt.Fprintln(w, "| phase | flows | wall s | flows/s | gateway CPU ms/flow | failures | upstream calls |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- | ---: |")
	for _, f := range []*flowResult{unpaced, paced} {
		cpu := "n/a"
		if b.cfg.pid != 0 {
			cpu = fmt.Sprintf("%.2f", f.CPU.Seconds()*1000/float64(f.n))
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %.0f | %s | %s | %d |\n", f.name(), f.n, f.Wall.Seconds(), float64(f.n)/f.Wall.Seconds(), cpu, benchkit.Failures(f.failed, f.firstErr), f.upstream)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latency per request (sent → body read), by endpoint (under `/v1/session`) and status. The hook's and the OTP webhook's own times are measured inside them (handler start → answer written); \"minus the hook's own time\" subtracts, per request, the time of the hook call it made. `/otp` includes the gateway's call to the OTP webhook.")
	fmt.Fprintln(w)
	benchkit.WriteLatencyHeader(w)
	for _, f := range []*flowResult{unpaced, paced} {
		for _, r := range []*benchkit.Recorder{f.rec, f.gateway, f.hook, f.sender} {
			benchkit.WriteLatencyRows(w, f.name(), r)
		}
	}
	fmt.Fprintln(w)
	for _, f := range []*flowResult{unpaced, paced} {
		if f.Redis != nil {
			fmt.Fprintf(w, "Redis per complete flow, counted by the server over the %s flows: %.2f round trips (`total_reads_processed`); commands (`commandstats`, which also counts what Lua scripts call inside an EVALSHA): %s.\n\n", f.name(), f.Redis.RoundTrips, f.Redis.Detail)
		}
	}
	if calls != nil {
		fmt.Fprintf(w, "Redis per protected call, over %d calls each (after as many flows, untimed): with a live single-use grant (200): **%.3f round trips** (%s); the same token again (401): %.3f round trips (%s).\n\n",
			calls.n, calls.first.RoundTrips, calls.first.Detail, calls.second.RoundTrips, calls.second.Detail)
	}
	rate := float64(unpaced.n) / unpaced.Wall.Seconds()
	pacedRate := float64(paced.n) / paced.Wall.Seconds()
	worst, worstName := paced.worstP99()
	uWorst, uWorstName := unpaced.worstP99()
	fmt.Fprintln(w, "| goal (step-up, Redis) | measured | met |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	fmt.Fprintf(w, "| ≥ 300 complete flows/s | %.0f/s unpaced (%d failures, %d upstream calls for %d flows) | %s |\n", rate, unpaced.failed, unpaced.upstream, unpaced.n, benchkit.Yes(rate >= 300 && unpaced.complete()))
	fmt.Fprintf(w, "| p99 < 10 ms per endpoint, hook's own time excluded | at %d flows/s (%.0f/s achieved): worst %s, p99 %s ms; unpaced (%d in flight): worst %s, p99 %s ms | %s at %d flows/s; %s unpaced |\n",
		b.cfg.rate, pacedRate, worstName, benchkit.MS(worst), b.cfg.concurrency, uWorstName, benchkit.MS(uWorst),
		benchkit.Yes(worst < 10*time.Millisecond && paced.complete()), b.cfg.rate, benchkit.Yes(uWorst < 10*time.Millisecond))
	if calls != nil {
		fmt.Fprintf(w, "| a protected call with a single-use grant: 1 Redis round trip | %.3f | %s |\n", calls.first.RoundTrips, benchkit.Yes(calls.first.RoundTrips < 1.005))
	}
	fmt.Fprintln(w)
}

func (f *flowResult) name() string {
	if f.rate == 0 {
		return "unpaced"
	}
	return fmt.Sprintf("paced %d/s", f.rate)
}

// complete says every flow passed and reached the upstream exactly once.
func (f *flowResult) complete() bool { return f.failed == 0 && f.upstream == int64(f.n) }

// worstP99 is the highest p99 of the gateway's endpoints, with
// stepup/request counted without the hook's own time.
func (f *flowResult) worstP99() (time.Duration, string) {
	var worst time.Duration
	var name string
	consider := func(r *benchkit.Recorder, l string) {
		if s := r.Summary(l); s.P99 > worst {
			worst, name = s.P99, l
		}
	}
	for _, l := range f.rec.Labels() {
		if !strings.HasPrefix(l, "/stepup/request") {
			consider(f.rec, l)
		}
	}
	consider(f.gateway, "/stepup/request 200 minus the hook's own time")
	return worst, name
}
