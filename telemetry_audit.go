package caddystepup

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Audit events: one structured entry per security event on the logger
// `stepup.audit`, with a stable `event` field and the same fields
// everywhere. A token, code, password or identifier's value never appears;
// users and sessions by ID only.

// auditedEvents are the events written to the audit log; the others
// (refresh rotations) only count in the metrics.
var auditedEvents = map[string]bool{
	stepup.EventLoginCodeSent: true, stepup.EventLoginSucceeded: true, stepup.EventLoginFailed: true,
	stepup.EventLoginLocked: true, stepup.EventSignUpConflict: true, stepup.EventStepUpRequested: true,
	stepup.EventStepUpCodeSent: true, stepup.EventStepUpStepDone: true, stepup.EventStepUpCheckFailed: true,
	stepup.EventStepUpGranted: true, stepup.EventGrantConsumed: true, stepup.EventRefreshReuse: true,
	stepup.EventSessionRevoked: true, stepup.EventHookFailed: true, stepup.EventCodeSendFailed: true,
	stepup.EventGrantRevoked: true, eventStoreUnavailable: true, eventAdminConfigChanged: true,
}

// Events of the Caddy shell itself.
const (
	eventStoreUnavailable   = "store.unavailable"      // a store operation failed; op: the operation
	eventAdminRevoked       = "admin.sessions_revoked" // the admin API ended sessions or grants
	eventAdminConfigChanged = "admin.config_changed"   // the admin API changed the step-up config; op: which call
)

// observe records an engine event: metrics, then the audit log.
func (a *App) observe(ev stepup.Event) {
	countEvent(ev)
	if auditedEvents[ev.Name] {
		a.audit(ev, "")
	}
}

// audit writes one audit entry; op is the operation of the shell's own
// events.
func (a *App) audit(ev stepup.Event, op string) {
	if a.auditLog == nil {
		return
	}
	ce := a.auditLog.Check(zapcore.InfoLevel, "security event")
	if ce == nil {
		return
	}
	ce.Write(zap.String("event", ev.Name), zap.String("user", ev.UserID), zap.String("session", ev.SessionID),
		zap.String("scope", ev.Scope), zap.String("client_ip", ev.ClientIP), zap.String("method", ev.Method),
		zap.String("channel", ev.Channel), zap.String("outcome", ev.Outcome), zap.String("reason", ev.Reason),
		zap.String("step", ev.Step), zap.String("grant_mode", ev.GrantMode), zap.String("purpose", ev.Purpose), zap.String("op", op))
}

// countEvent moves the counters an event stands for.
func countEvent(ev stepup.Event) {
	initMetrics()
	m := &stepupMetrics
	switch ev.Name {
	case stepup.EventLoginCodeSent:
		m.codesSent.WithLabelValues(ev.Channel, "login").Inc()
	case stepup.EventStepUpCodeSent:
		m.codesSent.WithLabelValues(ev.Channel, "step_up").Inc()
	case stepup.EventCodeSendFailed:
		m.codeSendFailure.WithLabelValues(ev.Channel).Inc()
	case stepup.EventLoginSucceeded:
		m.logins.WithLabelValues(ev.Method, "succeeded").Inc()
		if ev.Method == "otp" {
			m.codeChecks.WithLabelValues("login", "ok").Inc()
		}
	case stepup.EventLoginFailed:
		m.logins.WithLabelValues(ev.Method, "failed").Inc()
		if ev.Reason == "bad_code" {
			m.codeChecks.WithLabelValues("login", "wrong").Inc()
		}
	case stepup.EventLoginLocked:
		m.logins.WithLabelValues(ev.Method, "locked").Inc()
	case stepup.EventStepUpRequested:
		m.stepups.WithLabelValues(ev.Scope, ev.Outcome).Inc()
	case stepup.EventHookFailed:
		m.stepups.WithLabelValues(ev.Scope, "hook_failed").Inc()
		m.hookFailures.WithLabelValues(ev.Reason).Inc()
	case stepup.EventStepUpStepDone:
		if ev.Step == stepup.StepVerifySMS || ev.Step == stepup.StepVerifyEmail {
			m.codeChecks.WithLabelValues("step_up", "ok").Inc()
		}
	case stepup.EventStepUpCheckFailed:
		m.codeChecks.WithLabelValues("step_up", "wrong").Inc()
	case stepup.EventStepUpGranted:
		m.stepups.WithLabelValues(ev.Scope, "granted").Inc()
		m.grants.WithLabelValues("issued", ev.GrantMode).Inc()
	case stepup.EventGrantConsumed:
		m.grants.WithLabelValues("consumed", ev.GrantMode).Inc()
	case stepup.EventRefreshRotated:
		m.refreshes.WithLabelValues("rotated").Inc()
	case stepup.EventRefreshReuse:
		m.refreshes.WithLabelValues("reuse_detected").Inc()
		m.revocations.WithLabelValues("reuse").Inc()
	case stepup.EventSessionRevoked:
		m.revocations.WithLabelValues(ev.Reason).Inc()
	}
}

// storeFailed audits a failed store operation, at most once a second: an
// outage must show in the audit log without flooding it.
func (a *App) storeFailed(op string) {
	now := time.Now().Unix()
	if last := a.lastStoreAudit.Load(); last == now || !a.lastStoreAudit.CompareAndSwap(last, now) {
		return
	}
	a.audit(stepup.Event{Name: eventStoreUnavailable}, op)
}
