package telemetry

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// TestRegisterTwice: a second config's registry (a reload) takes the same
// collectors without an error, and they keep their counts; registering
// twice in one registry is not an error either.
func TestRegisterTwice(t *testing.T) {
	first, second := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	if err := Register(first); err != nil {
		t.Fatal(err)
	}
	before := testutil.ToFloat64(logins.WithLabelValues("otp", "succeeded"))
	countEvent(stepup.Event{Name: stepup.EventLoginSucceeded, Method: "otp"})
	if err := Register(second); err != nil {
		t.Fatal(err)
	}
	if err := Register(second); err != nil {
		t.Fatalf("registering twice in one registry: %v", err)
	}
	for name, reg := range map[string]*prometheus.Registry{"first": first, "second": second} {
		n, err := testutil.GatherAndCount(reg, "caddy_stepup_logins_total")
		if err != nil || n == 0 {
			t.Fatalf("the %s registry does not serve the logins counter: %d %v", name, n, err)
		}
	}
	if got := testutil.ToFloat64(logins.WithLabelValues("otp", "succeeded")); got != before+1 {
		t.Errorf("the counter is at %v after the second registration, want %v", got, before+1)
	}
}

// TestMetricsServedAtZeroBeforeAnyEvent: the series of the fixed label sets are served before
// anything happened, so that dashboards show 0 rather than no data.
func TestMetricsServedAtZeroBeforeAnyEvent(t *testing.T) {
	served := scrape(t)
	for _, s := range []string{
		`caddy_stepup_token_cache_lookups_total{result="hit"}`,
		`caddy_stepup_token_cache_lookups_total{result="miss"}`,
		`caddy_stepup_jwks_fetches_total{result="ok"}`,
		`caddy_stepup_jwks_fetches_total{result="error"}`,
		`caddy_stepup_logins_total{method="oauth",outcome="locked"}`,
		`caddy_stepup_logins_total{method="password",outcome="failed"}`,
		`caddy_stepup_codes_sent_total{channel="email",purpose="step_up"}`,
		`caddy_stepup_code_send_failures_total{channel="sms"}`,
		`caddy_stepup_code_checks_total{outcome="wrong",purpose="login"}`,
		`caddy_stepup_grants_total{event="consumed",mode="session-bound"}`,
		`caddy_stepup_refreshes_total{outcome="reuse_detected"}`,
		`caddy_stepup_sessions_revoked_total{reason="admin"}`,
		`caddy_stepup_hook_failures_total{reason="invalid_response"}`,
		`caddy_stepup_redis_clock_faults_total{reason="out_of_bound"}`,
		`caddy_stepup_redis_clock_faults_total{reason="jump"}`,
		`caddy_stepup_redis_clock_faults_total{reason="inconsistent"}`,
	} {
		if _, ok := served[s]; !ok {
			t.Errorf("%s is not served", s)
		}
	}
	want := map[string]int{"logins_total": 9, "codes_sent_total": 4, "code_checks_total": 4, "grants_total": 4,
		"sessions_revoked_total": 4, "hook_failures_total": 4}
	for name, n := range want {
		reg := prometheus.NewPedanticRegistry()
		if err := Register(reg); err != nil {
			t.Fatal(err)
		}
		if got, err := testutil.GatherAndCount(reg, "caddy_stepup_"+name); err != nil || got < n {
			t.Errorf("caddy_stepup_%s: %d series (%v), want at least %d", name, got, err, n)
		}
	}
}

// TestCacheAndFetchCounters: each lookup and fetch moves its result's
// series, and nothing else.
func TestCacheAndFetchCounters(t *testing.T) {
	before := scrape(t)
	CacheLookup(true)
	CacheLookup(true)
	CacheLookup(false)
	JWKSFetch(nil)
	JWKSFetch(errors.New("refused"))
	JWKSFetch(errors.New("refused"))
	wantMoved(t, "lookups and fetches", moved(before, scrape(t)), map[string]float64{
		`caddy_stepup_token_cache_lookups_total{result="hit"}`:  2,
		`caddy_stepup_token_cache_lookups_total{result="miss"}`: 1,
		`caddy_stepup_jwks_fetches_total{result="ok"}`:          1,
		`caddy_stepup_jwks_fetches_total{result="error"}`:       2,
	})
}

// TestClockFaultCounter: a refused measurement of Redis's clock moves its
// reason's series, and only it.
func TestClockFaultCounter(t *testing.T) {
	before := testutil.ToFloat64(clockFaults.WithLabelValues("jump"))
	other := testutil.ToFloat64(clockFaults.WithLabelValues("out_of_bound"))
	ClockFault("jump")
	if got := testutil.ToFloat64(clockFaults.WithLabelValues("jump")); got != before+1 {
		t.Errorf("jump: %v, want %v", got, before+1)
	}
	if got := testutil.ToFloat64(clockFaults.WithLabelValues("out_of_bound")); got != other {
		t.Errorf("out_of_bound moved: %v, want %v", got, other)
	}
}
