package telemetry

import (
	"testing"

	"github.com/caddy-stepup/caddy-stepup/signals"
)

func TestSignalsCountedAndAudited(t *testing.T) {
	before := scrape(t)
	for _, series := range []string{
		`caddy_stepup_signals_total{event="caep.session-revoked",outcome="accepted"}`,
		`caddy_stepup_signals_total{event="other",outcome="duplicate"}`,
		`caddy_stepup_signals_total{event="unknown",outcome="invalid_key"}`,
		`caddy_stepup_signals_total{event="unknown",outcome="unavailable"}`,
	} {
		if _, ok := before[series]; !ok {
			t.Errorf("%s is not preset", series)
		}
	}
	rec, logs := newObservedRecorder()
	rec.Signal("risc.account-disabled", SignalAccepted, "sessions_ended=1 revocations=2 grants_dropped_users=0 unmatched=0")
	e := oneEntry(t, "signal", logs)
	if e == nil || e["event"] != EventSignalReceived || e["op"] != "risc.account-disabled" || e["outcome"] != "accepted" ||
		e["reason"] != "sessions_ended=1 revocations=2 grants_dropped_users=0 unmatched=0" {
		t.Fatalf("%v", e)
	}
	rec.Signal(SignalUnknownEvent, signals.CodeInvalidAudience, "")
	after := scrape(t)
	for series, delta := range map[string]float64{
		`caddy_stepup_signals_total{event="risc.account-disabled",outcome="accepted"}`: 1,
		`caddy_stepup_signals_total{event="unknown",outcome="invalid_audience"}`:       1,
	} {
		if after[series]-before[series] != delta {
			t.Errorf("%s moved by %v", series, after[series]-before[series])
		}
	}
	var nilRecorder *Recorder
	nilRecorder.Signal("other", SignalAccepted, "") // counts, writes nothing, does not panic
}

func TestStreamChangesCountedAndAudited(t *testing.T) {
	before := scrape(t)
	if _, ok := before[`caddy_stepup_signals_stream_changes_total{status="paused"}`]; !ok {
		t.Error("the stream changes are not preset")
	}
	rec, logs := newObservedRecorder()
	rec.StreamChanged("https://idp.example.com/", "enabled", "disabled", "maintenance")
	e := oneEntry(t, "signal", logs)
	if e == nil || e["event"] != EventStreamChanged || e["op"] != "https://idp.example.com/" || e["outcome"] != "disabled" ||
		e["reason"] != "previous=enabled reason=maintenance" {
		t.Fatalf("%v", e)
	}
	after := scrape(t)
	if d := after[`caddy_stepup_signals_stream_changes_total{status="disabled"}`] - before[`caddy_stepup_signals_stream_changes_total{status="disabled"}`]; d != 1 {
		t.Fatalf("moved by %v", d)
	}
}
