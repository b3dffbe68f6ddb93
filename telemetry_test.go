package caddystepup

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// servedMetrics is what a config's registry serves once the app registered
// the collectors in it: series → value.
func servedMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := telemetry.Register(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestDecisionMetrics: each request moves exactly its outcome's counter
// of its route's scope label.
func TestDecisionMetrics(t *testing.T) {
	app := testApp(t, "metrics:test")
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"metrics:test"}}})
	series := func(outcome string) string {
		return `caddy_stepup_enforcement_decisions_total{outcome="` + outcome + `",scope="metrics:test"}`
	}
	before := servedMetrics(t)
	serve(t, h, request("GET", "/x", "Bearer "+mintToken(t, app, func(c map[string]any) { c["scope"] = "metrics:test" })))
	serve(t, h, request("GET", "/x", "Bearer "+mintToken(t, app, nil)))
	serve(t, h, request("GET", "/x", "Bearer not-a-token"))
	serve(t, h, request("GET", "/x", "Bearer not-a-token"))
	serve(t, h, request("GET", "/x", ""))
	after := servedMetrics(t)
	for o, want := range map[string]float64{"pass": 1, "step_up_required": 1, "invalid_token": 2, "no_token": 1, "forbidden": 0, "bad_request": 0} {
		if _, ok := after[series(o)]; !ok {
			t.Errorf("%s is not served", series(o))
		}
		if got := after[series(o)] - before[series(o)]; got != want {
			t.Errorf("%s moved by %v, want %v", o, got, want)
		}
	}
}
