package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

// TestWebhookReports: every report moves its one counter; a delivery
// given up is audited each time, drops and discards once a second; the
// audit entry names the webhook's type in op, never the endpoint.
func TestWebhookReports(t *testing.T) {
	rec, logs := newObservedRecorder()
	now := time.Unix(1_700_000_000, 0)
	rec.now = func() time.Time { return now }
	const user, session = "usr_a", "ses_b"
	report := func(outcome string) map[string]float64 {
		before := scrape(t)
		rec.Webhook(webhooks.Report{Type: stepup.SessionRevoked, Outcome: outcome, EventID: "evt_x", UserID: user, SessionID: session, Endpoint: 1, Attempts: 3, Status: 500})
		return moved(before, scrape(t))
	}
	series := func(outcome string) string {
		return `caddy_stepup_webhook_deliveries_total{event="user.session.revoked",outcome="` + outcome + `"}`
	}
	for _, o := range []string{webhooks.OutcomeQueued, webhooks.OutcomeDelivered, webhooks.OutcomeRetried} {
		wantMoved(t, o, report(o), map[string]float64{series(o): 1})
		if e := oneEntry(t, o, logs); e != nil {
			t.Errorf("%s audited: %v", o, e)
		}
	}
	for _, tc := range []struct{ outcome, reason string }{
		{webhooks.OutcomeFailed, "attempts_exhausted"},
		{webhooks.OutcomeDropped, "queue_full"},
		{webhooks.OutcomeDiscarded, "stopped"},
	} {
		wantMoved(t, tc.outcome, report(tc.outcome), map[string]float64{series(tc.outcome): 1})
		e := oneEntry(t, tc.outcome, logs)
		if e == nil || e["event"] != EventWebhookFailed || e["reason"] != tc.reason || e["op"] != "user.session.revoked" ||
			e["user"] != user || e["session"] != session || e["outcome"] != "" {
			t.Errorf("%s: audit entry %v", tc.outcome, e)
		}
	}
	// In the same second: each give-up again, no second drop or discard.
	report(webhooks.OutcomeFailed)
	if e := oneEntry(t, "a second give-up", logs); e == nil || e["reason"] != "attempts_exhausted" {
		t.Errorf("a second give-up: %v", e)
	}
	report(webhooks.OutcomeDropped)
	report(webhooks.OutcomeDiscarded)
	if e := oneEntry(t, "drops and discards within the second", logs); e != nil {
		t.Errorf("within the second: %v", e)
	}
	now = now.Add(time.Second)
	report(webhooks.OutcomeDropped)
	if e := oneEntry(t, "a drop the next second", logs); e == nil || e["reason"] != "queue_full" {
		t.Errorf("the next second: %v", e)
	}
}

// TestWebhookSeriesPresetAtZero: every type and outcome is a series from
// the start, so a dashboard reads 0.
func TestWebhookSeriesPresetAtZero(t *testing.T) {
	got := scrape(t)
	n := 0
	for s := range got {
		if strings.HasPrefix(s, "caddy_stepup_webhook_deliveries_total{") {
			n++
		}
	}
	if want := len(webhooks.Types) * len(webhooks.Outcomes); n != want {
		t.Errorf("%d webhook series, want %d", n, want)
	}
}

// TestWebhookReportsWithoutRecorder: a nil Recorder still counts.
func TestWebhookReportsWithoutRecorder(t *testing.T) {
	var rec *Recorder
	before := scrape(t)
	rec.Webhook(webhooks.Report{Type: stepup.UserCreated, Outcome: webhooks.OutcomeDropped})
	rec.Webhook(webhooks.Report{Type: stepup.UserCreated, Outcome: webhooks.OutcomeFailed})
	wantMoved(t, "nil recorder", moved(before, scrape(t)), map[string]float64{
		`caddy_stepup_webhook_deliveries_total{event="user.created",outcome="dropped"}`: 1,
		`caddy_stepup_webhook_deliveries_total{event="user.created",outcome="failed"}`:  1,
	})
}
