package telemetry

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Audit events: one structured entry per security event on the audit
// logger (`stepup.audit`), message "security event", with a stable `event`
// field and the same fields everywhere, each with one meaning. A token,
// code, password or identifier's value never appears; users and sessions by
// ID only.

// Events of the Caddy shell itself (the engine's are stepup.Event*).
const (
	EventStoreUnavailable = "store.unavailable"    // a store operation failed; op: the operation
	EventConfigChanged    = "admin.config_changed" // a management call changed the step-up config; op: which call
)

// auditedEvents are the engine's events written to the audit log; the
// others (refresh rotations) only count in the metrics.
var auditedEvents = map[string]bool{
	stepup.EventLoginCodeSent: true, stepup.EventLoginSucceeded: true, stepup.EventLoginFailed: true,
	stepup.EventLoginLocked: true, stepup.EventSignUpConflict: true, stepup.EventStepUpRequested: true,
	stepup.EventStepUpCodeSent: true, stepup.EventStepUpStepDone: true, stepup.EventStepUpCheckFailed: true,
	stepup.EventStepUpGranted: true, stepup.EventGrantConsumed: true, stepup.EventRefreshReuse: true,
	stepup.EventSessionRevoked: true, stepup.EventHookFailed: true, stepup.EventCodeSendFailed: true,
	stepup.EventGrantRevoked: true, stepup.EventPasskeyRegistered: true, stepup.EventPasskeyDeleted: true,
	stepup.EventPasskeyCloneSuspected: true,
}

// Recorder turns events into counters and audit entries. One per config
// (the audit logger follows the config's logging); the counters are the
// process's. A nil Recorder still counts, and writes no audit entry.
type Recorder struct {
	audit *zap.Logger
	// lastStoreAudit is the Unix second of the last store.unavailable entry.
	lastStoreAudit atomic.Int64
	webhooks       webhookAudit
	now            func() time.Time
}

// NewRecorder writes audit entries to audit (nil: none).
func NewRecorder(audit *zap.Logger) *Recorder {
	return &Recorder{audit: audit, now: time.Now}
}

// Record records an engine event (stepup.Config.Events): counters, then
// the audit log.
func (r *Recorder) Record(ev stepup.Event) {
	countEvent(ev)
	if auditedEvents[ev.Name] {
		r.write(ev, "")
	}
}

// StoreFailed audits a failed store operation, at most once a second: an
// outage must show in the audit log without flooding it. (The measured
// store counts every failure.)
func (r *Recorder) StoreFailed(op string) {
	if r == nil {
		return
	}
	if !r.onceASecond(&r.lastStoreAudit) {
		return
	}
	r.write(stepup.Event{Name: EventStoreUnavailable}, op)
}

// ConfigChanged audits a management call that changed the step-up config;
// call names it (stepup, scopes).
func (r *Recorder) ConfigChanged(call string) {
	r.write(stepup.Event{Name: EventConfigChanged}, call)
}

// write writes one audit entry; op is the operation of the shell's own
// events.
func (r *Recorder) write(ev stepup.Event, op string) {
	if r == nil || r.audit == nil {
		return
	}
	ce := r.audit.Check(zapcore.InfoLevel, "security event")
	if ce == nil {
		return
	}
	ce.Write(zap.String("event", ev.Name), zap.String("user", ev.UserID), zap.String("session", ev.SessionID),
		zap.String("scope", ev.Scope), zap.String("client_ip", ev.ClientIP), zap.String("method", ev.Method),
		zap.String("channel", ev.Channel), zap.String("outcome", ev.Outcome), zap.String("reason", ev.Reason),
		zap.String("step", ev.Step), zap.String("grant_mode", ev.GrantMode), zap.String("purpose", ev.Purpose),
		zap.String("op", op))
}

// countEvent moves the counters an event stands for.
func countEvent(ev stepup.Event) {
	switch ev.Name {
	case stepup.EventLoginCodeSent:
		codesSent.WithLabelValues(ev.Channel, "login").Inc()
	case stepup.EventStepUpCodeSent:
		codesSent.WithLabelValues(ev.Channel, "step_up").Inc()
	case stepup.EventCodeSendFailed:
		codeSendFailure.WithLabelValues(ev.Channel).Inc()
	case stepup.EventLoginSucceeded:
		logins.WithLabelValues(ev.Method, "succeeded").Inc()
		if ev.Method == "otp" {
			codeChecks.WithLabelValues("login", "ok").Inc()
		}
	case stepup.EventLoginFailed:
		logins.WithLabelValues(ev.Method, "failed").Inc()
		if ev.Reason == "bad_code" {
			codeChecks.WithLabelValues("login", "wrong").Inc()
		}
	case stepup.EventLoginLocked:
		logins.WithLabelValues(ev.Method, "locked").Inc()
	case stepup.EventStepUpRequested:
		stepups.WithLabelValues(ev.Scope, ev.Outcome).Inc()
	case stepup.EventHookFailed:
		stepups.WithLabelValues(ev.Scope, "hook_failed").Inc()
		hookFailures.WithLabelValues(ev.Reason).Inc()
	case stepup.EventStepUpStepDone:
		if ev.Step == stepup.StepVerifySMS || ev.Step == stepup.StepVerifyEmail {
			codeChecks.WithLabelValues("step_up", "ok").Inc()
		}
	case stepup.EventStepUpCheckFailed:
		if ev.Step == stepup.StepVerifySMS || ev.Step == stepup.StepVerifyEmail {
			codeChecks.WithLabelValues("step_up", "wrong").Inc()
		}
	case stepup.EventStepUpGranted:
		stepups.WithLabelValues(ev.Scope, "granted").Inc()
		grants.WithLabelValues("issued", ev.GrantMode).Inc()
	case stepup.EventGrantConsumed:
		grants.WithLabelValues("consumed", ev.GrantMode).Inc()
	case stepup.EventRefreshRotated:
		refreshes.WithLabelValues("rotated").Inc()
	case stepup.EventRefreshReuse:
		refreshes.WithLabelValues("reuse_detected").Inc()
		revocations.WithLabelValues("reuse").Inc()
	case stepup.EventSessionRevoked:
		revocations.WithLabelValues(ev.Reason).Inc()
	}
}
