// Package flowdriver runs complete step-up flows against one or more
// gateways of a deployment the way a patient client behind a load balancer
// would: OTP login, a step-up request, the SMS code, the redemption, and
// one call to the protected API with the single-use grant (then the same
// call again, which must be refused). A 503 or a connection error is
// retried, on the next gateway, until the flow's deadline; anything else
// unexpected ends the flow as failed. The chaos tests and the soak use it.
package flowdriver

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// Config describes the deployment a flow runs against.
type Config struct {
	// Gateways are the base URLs of the instances, tried in turn.
	Gateways []string
	// Scope is the scope the protected route requires (single-use grant,
	// one verify_sms step).
	Scope string
	// APIPath is the protected route's prefix; each flow calls
	// APIPath + "/" + its own id, so the upstream can count per flow.
	APIPath string
	// Code returns the newest code sent to a phone number and how many
	// were sent there so far.
	Code func(phone string) (code string, sent int)
	// HTTP is the client of every request (its Timeout bounds each one).
	HTTP *http.Client
	// Deadline bounds a whole flow, retries included. Default 30 s.
	Deadline time.Duration
	// RetryEvery is the pause before retrying a refused step. Default 100 ms.
	RetryEvery time.Duration
}

// Result is how one flow went.
type Result struct {
	ID        string
	Completed bool   // every step done and the API called once
	Failure   string // why it did not complete
	// LostAfterRetry: the step that failed had been answered 503 before,
	// and its retry found the state spent (a reply lost after the store
	// ran the command: the window the README describes).
	LostAfterRetry bool
	// Unavailable counts the 503s and connection errors it retried;
	// LastUnavailable is when the last of them was answered.
	Unavailable     int
	LastUnavailable time.Time
	// Steps are the latencies of the successful calls, by step name.
	Steps map[string]time.Duration
	// Start and End bound the flow.
	Start, End time.Time
}

var counter atomic.Int64

// Run runs one flow for phone. The id names the flow's API path.
func Run(cfg Config, phone string) Result {
	if cfg.Deadline == 0 {
		cfg.Deadline = 30 * time.Second
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = 100 * time.Millisecond
	}
	n := counter.Add(1)
	r := &run{cfg: cfg, res: Result{ID: fmt.Sprintf("f%d", n), Steps: map[string]time.Duration{}, Start: time.Now()},
		gw: int(n) % len(cfg.Gateways)}
	r.deadline = r.res.Start.Add(cfg.Deadline)
	r.c = sessionclient.New(cfg.Gateways[r.gw])
	if cfg.HTTP != nil {
		r.c.HTTP = cfg.HTTP
	}
	if err := r.flow(phone); err != nil {
		r.res.Failure = err.Error()
	} else {
		r.res.Completed = true
	}
	r.res.End = time.Now()
	return r.res
}

type run struct {
	cfg      Config
	res      Result
	c        *sessionclient.Client
	gw       int
	deadline time.Time
}

// step calls do until it answers want (true), retrying 503s and
// connection errors on the next gateway.
func (r *run) step(name string, want int, do func() (*sessionclient.Response, error)) (*sessionclient.Response, error) {
	for retried := false; ; retried = true {
		began := time.Now()
		resp, err := do()
		if err == nil && resp.Status == want {
			r.res.Steps[name] = time.Since(began)
			return resp, nil
		}
		if err == nil && resp.Status != http.StatusServiceUnavailable {
			r.res.LostAfterRetry = retried
			return resp, fmt.Errorf("%s: %d %s", name, resp.Status, strings.TrimSpace(string(resp.Body)))
		}
		if err == nil && (resp.Header.Get("Content-Type") != "application/json" || resp.String("type") == "" || resp.String("message") == "") {
			return resp, fmt.Errorf("%s: a 503 without the SDK's error shape: %s", name, resp.Body)
		}
		r.res.Unavailable++
		r.res.LastUnavailable = time.Now()
		if time.Now().After(r.deadline) {
			if err != nil {
				return nil, fmt.Errorf("%s: still failing at the deadline: %v", name, err)
			}
			return resp, fmt.Errorf("%s: still 503 at the deadline: %s", name, resp.Body)
		}
		time.Sleep(r.cfg.RetryEvery)
		r.gw = (r.gw + 1) % len(r.cfg.Gateways)
		r.c.Base = r.cfg.Gateways[r.gw]
		r.c.Origin = r.c.Base
		r.c.Nonce = ""
	}
}

func (r *run) flow(phone string) error {
	if _, err := r.step("login_start", http.StatusNoContent, func() (*sessionclient.Response, error) {
		return r.c.StartLogin("phone_number", phone)
	}); err != nil {
		return err
	}
	if _, err := r.step("login_check", http.StatusOK, func() (*sessionclient.Response, error) {
		code, _ := r.cfg.Code(phone)
		return r.c.CheckLogin(code)
	}); err != nil {
		return err
	}
	req, err := r.step("stepup_request", http.StatusOK, func() (*sessionclient.Response, error) {
		return r.c.RequestStepUp(r.cfg.Scope, map[string]string{"flow": r.res.ID})
	})
	if err != nil {
		return err
	}
	challenge := req.String("challenge_token")
	before := 0
	if _, err := r.step("otp_send", http.StatusNoContent, func() (*sessionclient.Response, error) {
		_, before = r.cfg.Code(phone)
		return r.c.SendOTP(challenge)
	}); err != nil {
		return err
	}
	if _, sent := r.cfg.Code(phone); sent <= before {
		return fmt.Errorf("otp_send: no step-up code arrived")
	}
	checked, err := r.step("otp_check", http.StatusOK, func() (*sessionclient.Response, error) {
		code, _ := r.cfg.Code(phone)
		return r.c.CheckOTP(challenge, code)
	})
	if err != nil {
		return err
	}
	completed := checked.String("challenge_token")
	if _, err := r.step("redeem", http.StatusOK, func() (*sessionclient.Response, error) {
		return r.c.Refresh(completed)
	}); err != nil {
		return err
	}
	call := sessionclient.Request{Method: http.MethodPost, Path: r.cfg.APIPath + "/" + r.res.ID, Bearer: true}
	if _, err := r.step("api_call", http.StatusOK, func() (*sessionclient.Response, error) {
		return r.c.Do(call)
	}); err != nil {
		return err
	}
	// The grant was single-use: the same call again is refused.
	again, err := r.step("api_replay", http.StatusUnauthorized, func() (*sessionclient.Response, error) {
		return r.c.Do(call)
	})
	if err != nil {
		return err
	}
	if !strings.Contains(again.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		return fmt.Errorf("api_replay: refused as %q", again.Header.Get("WWW-Authenticate"))
	}
	return nil
}
