package sessionapi

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Benchmarks of the session API over a real engine (memory store), driven
// over loopback HTTP by sessionclient as the SDK drives it: what one
// request costs the gateway and its client together (the client signs the
// DPoP proofs, about one ECDSA signature per proved request). Compare
// builds with benchstat on cpu-ns/op (the process's CPU per operation: on
// a shared machine wall time also counts the time others held the
// cores); allocs/op is the gateway's and the client's.

// benchEnv is newEnv with the gateway's token caches and limits no
// benchmark reaches (the open-challenge cap per user stays: flows take
// turns over enough users).
func benchEnv(b *testing.B) *env {
	return newEnvCached(b, nil, func(c *stepup.Config) {
		c.OTP.MaxPerHour = 1 << 30
		big := stepup.Rate{Count: 1 << 30, Window: time.Hour}
		c.Limits = stepup.RateLimits{ClientUnprovenSends: big, ClientDestinationSends: big, ClientSends: big,
			ClientUnfinishedLogins: big, ClientLoginStarts: big, LoginStarts: big, Sends: big}
	}, 10000)
}

// benchUsers logs in n users, each with its own phone number and DPoP key.
func benchUsers(b *testing.B, e *env, n int) []*sessionclient.Client {
	b.Helper()
	users := make([]*sessionclient.Client, n)
	for i := range users {
		c := e.client()
		if r, err := c.StartLogin("phone_number", fmt.Sprintf("+336%08d", i)); err != nil || r.Status != 204 {
			b.Fatalf("login/otp: %v %v", r, err)
		}
		if r, err := c.CheckLogin(e.codes.last()); err != nil || r.Status != 200 {
			b.Fatalf("login/otp/check: %v %v", r, err)
		}
		users[i] = c
	}
	return users
}

// flowsPerUser stays under the engine's cap of open challenges per user.
const flowsPerUser = 8

// BenchmarkStepUpFlow: one complete step-up flow after the login, as
// bench/stepup drives it: stepup/request (a direct policy), otp, otp/check,
// refresh with the completed challenge token.
func BenchmarkStepUpFlow(b *testing.B) {
	e := benchEnv(b)
	users := benchUsers(b, e, b.N/flowsPerUser+1)
	run(b, func(i int) { stepUpFlow(b, e, users[i/flowsPerUser]) })
}

// run times op over b.N iterations, with the process's CPU per operation.
func run(b *testing.B, op func(i int)) {
	b.ReportAllocs()
	b.ResetTimer()
	before := processCPU()
	for i := range b.N {
		op(i)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-before)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func stepUpFlow(b *testing.B, e *env, c *sessionclient.Client) {
	req, err := c.RequestStepUp("transfer:write", map[string]string{"amount": "5"})
	if err != nil || req.Status != 200 {
		b.Fatalf("stepup/request: %v %v", req, err)
	}
	tok := req.String("challenge_token")
	if r, err := c.SendOTP(tok); err != nil || r.Status != 204 {
		b.Fatalf("otp: %v %v", r, err)
	}
	checked, err := c.CheckOTP(tok, e.codes.last())
	if err != nil || checked.Status != 200 {
		b.Fatalf("otp/check: %v %v", checked, err)
	}
	if r, err := c.Refresh(checked.String("challenge_token")); err != nil || r.Status != 200 {
		b.Fatalf("refresh: %v %v", r, err)
	}
}

// refreshesPerUser stays under the engine's cap of refreshes per session
// within a proof's window.
const refreshesPerUser = 32

// BenchmarkRefresh: a plain refresh of a logged-in session (its nonce
// known from the one before).
func BenchmarkRefresh(b *testing.B) {
	e := benchEnv(b)
	users := benchUsers(b, e, b.N/refreshesPerUser+1)
	run(b, func(i int) {
		if r, err := users[i/refreshesPerUser].Refresh(""); err != nil || r.Status != 200 {
			b.Fatalf("refresh: %v %v", r, err)
		}
	})
}

// BenchmarkOTPLogin: login/otp then login/otp/check, each user new.
func BenchmarkOTPLogin(b *testing.B) {
	e := benchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	before := processCPU()
	benchUsers(b, e, b.N)
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-before)/float64(b.N), "cpu-ns/op")
}
