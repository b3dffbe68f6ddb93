package telemetry

import (
	"github.com/caddy-stepup/caddy-stepup/signals"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// EventSignalReceived is the audit event of a SET pushed to stepup_signals.
const EventSignalReceived = "signal.received"

// Outcomes of a pushed SET, besides the RFC 8935 error codes of refusals.
const (
	SignalAccepted    = signals.OutcomeAccepted
	SignalDuplicate   = signals.OutcomeDuplicate
	SignalUnavailable = signals.OutcomeUnavailable
	// SignalUnknownEvent labels refused SETs: what a refused SET says its
	// event is, nobody vouched for.
	SignalUnknownEvent = signals.UnknownEvent
)

var signalsReceived = counter("signals_total",
	"SETs pushed to stepup_signals, by event (caep.session-revoked, ..., other; unknown when refused) and outcome (accepted, duplicate, unavailable, or the RFC 8935 error code).",
	"event", "outcome")

// EventStreamChanged is the audit event of a stream-updated event that
// changed its stream's status (SSF 1.0 §8.1.5).
const EventStreamChanged = "signal.stream_changed"

var streamChanges = counter("signals_stream_changes_total",
	"SSF streams whose transmitter changed their status (a stream-updated event), by the status they took (enabled, paused, disabled).",
	"status")

// presetSignals shows every accepted event and every refusal at zero.
func presetSignals() {
	for _, name := range signals.EventNames() {
		for _, o := range []string{SignalAccepted, SignalDuplicate} {
			signalsReceived.WithLabelValues(name, o)
		}
	}
	for _, code := range []string{signals.CodeInvalidRequest, signals.CodeInvalidKey, signals.CodeInvalidIssuer,
		signals.CodeInvalidAudience, signals.CodeAuthenticationFailed, signals.CodeInvalidState, SignalUnavailable} {
		signalsReceived.WithLabelValues(SignalUnknownEvent, code)
	}
	for _, status := range []string{"enabled", "paused", "disabled"} {
		streamChanges.WithLabelValues(status)
	}
}

// Signal counts one pushed SET and audits it: event is its short name
// (SignalUnknownEvent when refused), outcome how it ended, effect what it
// did ("sessions_ended=2 tokens_revoked=1", "" for none).
func (r *Recorder) Signal(event, outcome, effect string) {
	signalsReceived.WithLabelValues(event, outcome).Inc()
	r.write(stepup.Event{Name: EventSignalReceived, Outcome: outcome, Reason: effect}, event)
}

// StreamChanged counts and audits a stream whose status changed: op is
// the transmitter's issuer (from the configuration), outcome the new
// status, reason the previous one and the transmitter's reason.
func (r *Recorder) StreamChanged(issuer, previous, status, reason string) {
	streamChanges.WithLabelValues(status).Inc()
	why := "previous=" + previous
	if reason != "" {
		why += " reason=" + reason
	}
	r.write(stepup.Event{Name: EventStreamChanged, Outcome: status, Reason: why}, issuer)
}
