package caddystepup

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// TestDecisionMetrics: each request moves exactly its outcome's counter
// of its route's scope label.
func TestDecisionMetrics(t *testing.T) {
	app := testApp(t, "metrics:test")
	h := testHandler(t, app, &Handler{Scopes: []string{"metrics:test"}})
	value := func(outcome string) float64 {
		return testutil.ToFloat64(stepupMetrics.decisions.WithLabelValues(outcome, "metrics:test"))
	}
	before := map[string]float64{}
	for _, o := range []string{"pass", "invalid_token", "no_token", "step_up_required"} {
		before[o] = value(o)
	}
	serve(t, h, request("GET", "/x", "Bearer "+mintToken(t, app, func(c map[string]any) { c["scope"] = "metrics:test" })))
	serve(t, h, request("GET", "/x", "Bearer "+mintToken(t, app, nil)))
	serve(t, h, request("GET", "/x", "Bearer not-a-token"))
	serve(t, h, request("GET", "/x", "Bearer not-a-token"))
	serve(t, h, request("GET", "/x", ""))
	for o, want := range map[string]float64{"pass": 1, "step_up_required": 1, "invalid_token": 2, "no_token": 1} {
		if got := value(o) - before[o]; got != want {
			t.Errorf("%s moved by %v, want %v", o, got, want)
		}
	}
}

// TestMetricsRegisterTwice: a second config's registry (a reload) takes the
// same collectors without a panic, and they keep their counts.
func TestMetricsRegisterTwice(t *testing.T) {
	first, second := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	if err := registerMetrics(first); err != nil {
		t.Fatal(err)
	}
	countEvent(stepup.Event{Name: stepup.EventLoginSucceeded, Method: "otp"})
	if err := registerMetrics(second); err != nil {
		t.Fatal(err)
	}
	if err := registerMetrics(second); err != nil {
		t.Fatalf("registering twice in one registry: %v", err)
	}
	n, err := testutil.GatherAndCount(second, "caddy_stepup_logins_total")
	if err != nil || n == 0 {
		t.Fatalf("the second registry does not serve the logins counter: %d %v", n, err)
	}
}
