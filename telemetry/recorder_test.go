package telemetry

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// auditFields are the fields of every audit entry, in this order.
var auditFields = []string{"event", "user", "session", "scope", "client_ip", "method", "channel", "outcome", "reason",
	"step", "grant_mode", "purpose", "op"}

func newObservedRecorder() (*Recorder, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	return NewRecorder(zap.New(core).Named("stepup.audit")), logs
}

// oneEntry is the only audit entry written since the last call, by field,
// or nil when none was.
func oneEntry(t *testing.T, what string, logs *observer.ObservedLogs) map[string]any {
	t.Helper()
	entries := logs.TakeAll()
	switch {
	case len(entries) == 0:
		return nil
	case len(entries) > 1:
		t.Fatalf("%s: %d audit entries, want one", what, len(entries))
	}
	e := entries[0]
	if e.Message != "security event" || e.LoggerName != "stepup.audit" || e.Level != zapcore.InfoLevel {
		t.Errorf("%s: entry %q on %q at %s", what, e.Message, e.LoggerName, e.Level)
	}
	if len(e.Context) != len(auditFields) {
		t.Errorf("%s: %d fields, want %d", what, len(e.Context), len(auditFields))
	}
	for i, f := range e.Context {
		if i < len(auditFields) && f.Key != auditFields[i] {
			t.Errorf("%s: field %d is %s, want %s", what, i, f.Key, auditFields[i])
		}
	}
	return e.ContextMap()
}

// TestRecordedEvents: each engine event writes its typed fields to their
// own audit fields (every other field empty) and moves exactly the
// counters it stands for; refresh rotations only count.
func TestRecordedEvents(t *testing.T) {
	rec, logs := newObservedRecorder()
	const user, session, ip = "usr_a", "ses_b", "192.0.2.7"
	cases := []struct {
		name   string
		ev     stepup.Event
		audit  map[string]string // non-empty fields besides event; nil: no entry
		counts map[string]float64
	}{
		{"login code sent", stepup.Event{Name: stepup.EventLoginCodeSent, Channel: "sms", ClientIP: ip, Method: "otp"},
			map[string]string{"channel": "sms", "client_ip": ip, "method": "otp"},
			map[string]float64{`caddy_stepup_codes_sent_total{channel="sms",purpose="login"}`: 1}},
		{"otp login", stepup.Event{Name: stepup.EventLoginSucceeded, UserID: user, SessionID: session, Method: "otp", ClientIP: ip},
			map[string]string{"user": user, "session": session, "method": "otp", "client_ip": ip},
			map[string]float64{`caddy_stepup_logins_total{method="otp",outcome="succeeded"}`: 1,
				`caddy_stepup_code_checks_total{outcome="ok",purpose="login"}`: 1}},
		{"password login", stepup.Event{Name: stepup.EventLoginSucceeded, UserID: user, SessionID: session, Method: "password"},
			map[string]string{"user": user, "session": session, "method": "password"},
			map[string]float64{`caddy_stepup_logins_total{method="password",outcome="succeeded"}`: 1}},
		{"wrong login code", stepup.Event{Name: stepup.EventLoginFailed, Method: "otp", Reason: "bad_code"},
			map[string]string{"method": "otp", "reason": "bad_code"},
			map[string]float64{`caddy_stepup_logins_total{method="otp",outcome="failed"}`: 1,
				`caddy_stepup_code_checks_total{outcome="wrong",purpose="login"}`: 1}},
		{"wrong password", stepup.Event{Name: stepup.EventLoginFailed, Method: "password", Reason: "bad_credentials"},
			map[string]string{"method": "password", "reason": "bad_credentials"},
			map[string]float64{`caddy_stepup_logins_total{method="password",outcome="failed"}`: 1}},
		{"locked", stepup.Event{Name: stepup.EventLoginLocked, Method: "password", Reason: "locked"},
			map[string]string{"method": "password", "reason": "locked"},
			map[string]float64{`caddy_stepup_logins_total{method="password",outcome="locked"}`: 1}},
		{"sign-up conflict", stepup.Event{Name: stepup.EventSignUpConflict}, map[string]string{}, nil},
		{"step-up requested", stepup.Event{Name: stepup.EventStepUpRequested, UserID: user, Scope: "pay", Outcome: stepup.StatusReview},
			map[string]string{"user": user, "scope": "pay", "outcome": "review"},
			map[string]float64{`caddy_stepup_stepups_total{outcome="review",scope="pay"}`: 1}},
		{"step code sent", stepup.Event{Name: stepup.EventStepUpCodeSent, Scope: "pay", Channel: "email"},
			map[string]string{"scope": "pay", "channel": "email"},
			map[string]float64{`caddy_stepup_codes_sent_total{channel="email",purpose="step_up"}`: 1}},
		{"code step done", stepup.Event{Name: stepup.EventStepUpStepDone, Scope: "pay", Step: stepup.StepVerifyEmail},
			map[string]string{"scope": "pay", "step": "verify_email"},
			map[string]float64{`caddy_stepup_code_checks_total{outcome="ok",purpose="step_up"}`: 1}},
		{"custom step done", stepup.Event{Name: stepup.EventStepUpStepDone, Scope: "pay", Step: "kyc_review"},
			map[string]string{"scope": "pay", "step": "kyc_review"}, nil},
		{"wrong step code", stepup.Event{Name: stepup.EventStepUpCheckFailed, Scope: "pay", Step: stepup.StepVerifySMS},
			map[string]string{"scope": "pay", "step": "verify_sms"},
			map[string]float64{`caddy_stepup_code_checks_total{outcome="wrong",purpose="step_up"}`: 1}},
		{"refused passkey", stepup.Event{Name: stepup.EventStepUpCheckFailed, Scope: "pay", Step: stepup.StepVerifyPasskey},
			map[string]string{"scope": "pay", "step": "verify_passkey"}, nil},
		{"passkey step done", stepup.Event{Name: stepup.EventStepUpStepDone, Scope: "pay", Step: stepup.StepVerifyPasskey},
			map[string]string{"scope": "pay", "step": "verify_passkey"}, nil},
		{"passkey login", stepup.Event{Name: stepup.EventLoginSucceeded, UserID: user, SessionID: session, Method: "passkey"},
			map[string]string{"user": user, "session": session, "method": "passkey"},
			map[string]float64{`caddy_stepup_logins_total{method="passkey",outcome="succeeded"}`: 1}},
		{"refused passkey login", stepup.Event{Name: stepup.EventLoginFailed, Method: "passkey", Reason: "bad_passkey"},
			map[string]string{"method": "passkey", "reason": "bad_passkey"},
			map[string]float64{`caddy_stepup_logins_total{method="passkey",outcome="failed"}`: 1}},
		{"possible clone", stepup.Event{Name: stepup.EventPasskeyCloneSuspected, UserID: user, Scope: "pay", Step: stepup.StepVerifyPasskey, Reason: "sign_count"},
			map[string]string{"user": user, "scope": "pay", "step": "verify_passkey", "reason": "sign_count"}, nil},
		{"passkey registered", stepup.Event{Name: stepup.EventPasskeyRegistered, UserID: user, SessionID: session},
			map[string]string{"user": user, "session": session}, nil},
		{"passkey deleted", stepup.Event{Name: stepup.EventPasskeyDeleted, UserID: user, SessionID: session},
			map[string]string{"user": user, "session": session}, nil},
		{"granted", stepup.Event{Name: stepup.EventStepUpGranted, Scope: "pay", GrantMode: stepup.GrantSessionBound},
			map[string]string{"scope": "pay", "grant_mode": "session-bound"},
			map[string]float64{`caddy_stepup_stepups_total{outcome="granted",scope="pay"}`: 1,
				`caddy_stepup_grants_total{event="issued",mode="session-bound"}`: 1}},
		{"grant consumed", stepup.Event{Name: stepup.EventGrantConsumed, Scope: "pay", GrantMode: stepup.GrantSingleUse},
			map[string]string{"scope": "pay", "grant_mode": "single-use"},
			map[string]float64{`caddy_stepup_grants_total{event="consumed",mode="single-use"}`: 1}},
		{"refresh rotated", stepup.Event{Name: stepup.EventRefreshRotated, UserID: user, SessionID: session}, nil,
			map[string]float64{`caddy_stepup_refreshes_total{outcome="rotated"}`: 1}},
		{"refresh reused", stepup.Event{Name: stepup.EventRefreshReuse, UserID: user, SessionID: session, Outcome: "session_revoked"},
			map[string]string{"user": user, "session": session, "outcome": "session_revoked"},
			map[string]float64{`caddy_stepup_refreshes_total{outcome="reuse_detected"}`: 1,
				`caddy_stepup_sessions_revoked_total{reason="reuse"}`: 1}},
		{"logout", stepup.Event{Name: stepup.EventSessionRevoked, UserID: user, SessionID: session, Reason: "logout"},
			map[string]string{"user": user, "session": session, "reason": "logout"},
			map[string]float64{`caddy_stepup_sessions_revoked_total{reason="logout"}`: 1}},
		{"grants revoked", stepup.Event{Name: stepup.EventGrantRevoked, UserID: user, Reason: "admin"},
			map[string]string{"user": user, "reason": "admin"}, nil},
		{"hook failed", stepup.Event{Name: stepup.EventHookFailed, Scope: "pay", Reason: "invalid_status_code"},
			map[string]string{"scope": "pay", "reason": "invalid_status_code"},
			map[string]float64{`caddy_stepup_stepups_total{outcome="hook_failed",scope="pay"}`: 1,
				`caddy_stepup_hook_failures_total{reason="invalid_status_code"}`: 1}},
		{"send failed", stepup.Event{Name: stepup.EventCodeSendFailed, Channel: "sms", Purpose: "step_up"},
			map[string]string{"channel": "sms", "purpose": "step_up"},
			map[string]float64{`caddy_stepup_code_send_failures_total{channel="sms"}`: 1}},
	}
	for _, tc := range cases {
		before := scrape(t)
		rec.Record(tc.ev)
		wantMoved(t, tc.name, moved(before, scrape(t)), tc.counts)
		entry := oneEntry(t, tc.name, logs)
		if tc.audit == nil {
			if entry != nil {
				t.Errorf("%s: audited %v, want only counted", tc.name, entry)
			}
			continue
		}
		if entry == nil {
			t.Errorf("%s: no audit entry", tc.name)
			continue
		}
		if entry["event"] != tc.ev.Name {
			t.Errorf("%s: event %v, want %s", tc.name, entry["event"], tc.ev.Name)
		}
		for _, f := range auditFields[1:] {
			if entry[f] != tc.audit[f] {
				t.Errorf("%s: %s is %q, want %q", tc.name, f, entry[f], tc.audit[f])
			}
		}
	}
}

// TestStoreFailuresAuditedOncePerSecond: an outage shows in the audit log
// with the failed operation in op, at most once a second.
func TestStoreFailuresAuditedOncePerSecond(t *testing.T) {
	rec, logs := newObservedRecorder()
	now := time.Unix(1_700_000_000, 0)
	rec.now = func() time.Time { return now }
	rec.StoreFailed("take")
	if e := oneEntry(t, "first failure", logs); e == nil || e["event"] != EventStoreUnavailable || e["op"] != "take" || e["reason"] != "" {
		t.Fatalf("first failure: %v", e)
	}
	rec.StoreFailed("get")
	now = now.Add(999 * time.Millisecond)
	rec.StoreFailed("get")
	if e := oneEntry(t, "within the second", logs); e != nil {
		t.Fatalf("within the second: %v", e)
	}
	now = now.Add(time.Millisecond)
	rec.StoreFailed("swap")
	if e := oneEntry(t, "the next second", logs); e == nil || e["op"] != "swap" {
		t.Fatalf("the next second: %v", e)
	}
}

// TestConfigChangeAudited: a management call's change names the call in op.
func TestConfigChangeAudited(t *testing.T) {
	rec, logs := newObservedRecorder()
	rec.ConfigChanged("scopes")
	if e := oneEntry(t, "config change", logs); e == nil || e["event"] != EventConfigChanged || e["op"] != "scopes" || e["reason"] != "" {
		t.Fatalf("config change: %v", e)
	}
}

// TestRecorderWithoutAuditLog: without an audit logger (or without a
// Recorder at all) events still count, and nothing is written.
func TestRecorderWithoutAuditLog(t *testing.T) {
	for name, rec := range map[string]*Recorder{"no logger": NewRecorder(nil), "no recorder": nil} {
		before := scrape(t)
		rec.Record(stepup.Event{Name: stepup.EventSessionRevoked, Reason: "user"})
		rec.StoreFailed("get")
		rec.ConfigChanged("stepup")
		wantMoved(t, name, moved(before, scrape(t)), map[string]float64{`caddy_stepup_sessions_revoked_total{reason="user"}`: 1})
	}
}
