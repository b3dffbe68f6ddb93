package telemetry

import "testing"

// TestEveryOutcomeHasALabel: each outcome has its own label value, and the
// zero Outcome none.
func TestEveryOutcomeHasALabel(t *testing.T) {
	seen := map[string]Outcome{}
	for o := Pass; o < numOutcomes; o++ {
		label := o.String()
		if label == "" {
			t.Errorf("outcome %d has no label", o)
		}
		if other, dup := seen[label]; dup {
			t.Errorf("outcomes %d and %d share the label %q", other, o, label)
		}
		seen[label] = o
	}
	if Outcome(0).String() != "" || numOutcomes.String() != "" {
		t.Error("an outcome outside the list has a label")
	}
}

// TestDecisionsCountTheirOutcome: a route's counters are served at zero
// from its setup, with "none" for a route requiring no scope; Count moves
// exactly its outcome's series of its route, and an outcome outside the
// list moves nothing.
func TestDecisionsCountTheirOutcome(t *testing.T) {
	before := scrape(t)
	payments := NewDecisions("payments:write payments:read")
	open := NewDecisions("")
	served := scrape(t)
	for o := Pass; o < numOutcomes; o++ {
		for _, scope := range []string{"payments:write payments:read", "none"} {
			s := `caddy_stepup_enforcement_decisions_total{outcome="` + o.String() + `",scope="` + scope + `"}`
			if _, ok := served[s]; !ok {
				t.Errorf("%s is not served after the route's setup", s)
			}
		}
	}
	payments.Count(StepUpRequired)
	payments.Count(Pass)
	payments.Count(Pass)
	open.Count(NoToken)
	open.Count(0)
	open.Count(numOutcomes)
	wantMoved(t, "decisions", moved(before, scrape(t)), map[string]float64{
		`caddy_stepup_enforcement_decisions_total{outcome="step_up_required",scope="payments:write payments:read"}`: 1,
		`caddy_stepup_enforcement_decisions_total{outcome="pass",scope="payments:write payments:read"}`:             2,
		`caddy_stepup_enforcement_decisions_total{outcome="no_token",scope="none"}`:                                 1,
	})
}
