package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// endpointStep is one request of a login or a flow, done for every user of
// a phase in turn; fn returns an error when the answer is not the expected
// one.
type endpointStep struct {
	name string
	fn   func(s *flowState) error
}

// flowState is one user's login and flow, carried from step to step.
type flowState struct {
	u         *browserUser
	challenge string // the current challenge token
}

// endpointCost is what one endpoint's requests cost on the Redis server.
type endpointCost struct {
	name string
	benchkit.PerOp
	cpu float64 // the gateway's CPU per request, ms
}

// steps are a login and a complete flow, request by request, as the SDK
// and the app send them.
func (b *bench) steps() []endpointStep {
	return []endpointStep{
		{"`login/otp` (204)", func(s *flowState) error {
			resp, err := s.u.c.StartLogin("phone_number", s.u.phone)
			return want(resp, err, 204)
		}},
		{"`login/otp/check` (400 `use_dpop_nonce`, then 200)", func(s *flowState) error {
			resp, err := s.u.c.CheckLogin(b.in.Code(s.u.phone))
			if err == nil && resp.Status == 200 {
				s.u.sub, _ = sessionclient.Claims(s.u.c.AccessToken)["sub"].(string)
			}
			return want(resp, err, 200)
		}},
		{"`stepup/request` (200, the hook called)", func(s *flowState) error {
			resp, err := s.u.c.RequestStepUp("transfer:write", nil)
			s.challenge = resp.String("challenge_token")
			return want(resp, err, 200)
		}},
		{"`otp` (204, the code sent)", func(s *flowState) error {
			resp, err := s.u.c.SendOTP(s.challenge)
			return want(resp, err, 204)
		}},
		{"`otp/check` (200)", func(s *flowState) error {
			resp, err := s.u.c.CheckOTP(s.challenge, b.in.Code(s.u.phone))
			s.challenge = resp.String("challenge_token")
			return want(resp, err, 200)
		}},
		{"`refresh` with `step_up_token` (200)", func(s *flowState) error {
			resp, err := s.u.c.Refresh(s.challenge)
			return want(resp, err, 200)
		}},
		{"`POST /api/transfers` with the grant (200)", func(s *flowState) error { return b.transfer(s.u, 200) }},
		{"`POST /api/transfers` again (401)", func(s *flowState) error { return b.transfer(s.u, 401) }},
		{"`refresh` (200)", func(s *flowState) error {
			resp, err := s.u.c.Refresh("")
			return want(resp, err, 200)
		}},
	}
}

func want(resp *sessionclient.Response, err error, status int) error {
	if err != nil {
		return err
	}
	if resp.Status != status {
		return fmt.Errorf("want %d, %w", status, resp)
	}
	return nil
}

// newUsers are n users not yet logged in, each with its own phone number.
func (b *bench) newUsers(n int, tag string) []*flowState {
	runID := time.Now().UnixNano() / 1000 % 10000
	out := make([]*flowState, n)
	for i := range out {
		c := sessionclient.New(b.cfg.gateway)
		c.HTTP = b.http
		out[i] = &flowState{u: &browserUser{c: c, phone: fmt.Sprintf("+1%s%04d%04d", tag, runID, i)}}
	}
	return out
}

// endpointCosts counts, on the Redis server, what each request of a login
// and of a flow costs: every user does one step, the server's counters
// are read, then the next step.
func (b *bench) endpointCosts(n int) ([]endpointCost, error) {
	ctx := context.Background()
	users := b.newUsers(n, "667")
	var costs []endpointCost
	for _, st := range b.steps() {
		before, err := benchkit.Snapshot(ctx, b.redis)
		if err != nil {
			return nil, err
		}
		cpu0 := benchkit.CPUTime(b.cfg.pid)
		var firstErr atomic.Value
		benchkit.Parallel(len(users), b.cfg.concurrency, func(i int) {
			if err := st.fn(users[i]); err != nil {
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", st.name, err))
			}
		})
		if e := firstErr.Load(); e != nil {
			return nil, fmt.Errorf("round trips per endpoint: %v", e)
		}
		after, err := benchkit.Snapshot(ctx, b.redis)
		if err != nil {
			return nil, err
		}
		cpu := float64(benchkit.CPUTime(b.cfg.pid)-cpu0) / 1e6 / float64(len(users))
		costs = append(costs, endpointCost{name: st.name, PerOp: benchkit.Delta(before, after, len(users)), cpu: cpu})
	}
	return costs, nil
}

// trace does one login and one flow alone, sending ECHO "== step" to
// Redis before each request, so that a MONITOR of the server shows which
// commands each request sent.
func (b *bench) trace() error {
	ctx := context.Background()
	s := b.newUsers(1, "668")[0]
	for _, st := range b.steps() {
		if err := b.redis.Echo(ctx, "== "+st.name).Err(); err != nil {
			return err
		}
		if err := st.fn(s); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return b.redis.Echo(ctx, "== end").Err()
}

// writeEndpointCosts adds the per-endpoint table to the report, with the
// totals of a login and of a complete flow.
func writeEndpointCosts(w io.Writer, n, inFlight int, costs []endpointCost) {
	fmt.Fprintf(w, "Redis round trips per request, by endpoint, counted by the server (`total_reads_processed`) over %d users doing each step in turn (%d in flight), with the gateway's CPU per request over the same step (`/proc`, 10 ms ticks); commands as `commandstats` counts them (those a script calls inside its EVALSHA included):\n\n", n, inFlight)
	fmt.Fprintln(w, "| request | round trips | gateway CPU ms | commands |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
	var login, flow, loginCPU, flowCPU float64
	for i, c := range costs {
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %s |\n", c.name, c.RoundTrips, c.cpu, c.Detail)
		switch {
		case i < 2:
			login, loginCPU = login+c.RoundTrips, loginCPU+c.cpu
		case i < 8:
			flow, flowCPU = flow+c.RoundTrips, flowCPU+c.cpu
		}
	}
	fmt.Fprintf(w, "| **an OTP login** (the first two) | **%.3f** | %.3f | |\n", login, loginCPU)
	fmt.Fprintf(w, "| **a complete flow** (`stepup/request` to the refused second call) | **%.3f** | %.3f | |\n\n", flow, flowCPU)
}
