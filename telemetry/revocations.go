package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Audit events of the revocation list.
const (
	// EventRevocationRecorded: a revocation was recorded. op: its kind
	// (sid, sub, jti); reason: why (logout, user, admin, reuse, relogin,
	// or a signal's event); user: the subject (sub), session: the session
	// (sid).
	EventRevocationRecorded = "revocation.recorded"
	// EventRevocationEnforced: a stepup handler refused a revoked access
	// token. op: the kind of the revocation that matched; reason: why that
	// revocation was made; user and session: the token's sub and sid.
	EventRevocationEnforced = "revocation.enforced"
)

// revocationReasons are the reason label values of
// caddy_stepup_token_revocations_total; any other reason (a signal's own)
// counts as "signal".
var revocationReasons = []string{"logout", "user", "admin", "reuse", "relogin", "signal"}

var (
	tokenRevocations = counter("token_revocations_total",
		"Revocations recorded by this instance, by kind (sid, sub, jti) and reason (logout, user, admin, reuse, relogin, signal).", "kind", "reason")
	revocationReads = counter("revocation_list_reads_total", "Reads of the shared revocation list, by result (ok, error).", "result")
	revocationSize  = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "revocation_list_entries",
		Help: "Entries in this instance's copy of the revocation list."})
	revocationStale = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "revocation_list_stale",
		Help: "1 while the revocation list could not be read for longer than max_staleness (every token is refused with 503), else 0."})
)

func init() {
	collectors = append(collectors, tokenRevocations, revocationReads, revocationSize, revocationStale)
	for _, k := range revocation.Kinds {
		for _, r := range revocationReasons {
			tokenRevocations.WithLabelValues(string(k), r)
		}
	}
	for _, r := range []string{"ok", "error"} {
		revocationReads.WithLabelValues(r)
	}
}

// revocationReason is reason as a label value.
func revocationReason(reason string) string {
	for _, r := range revocationReasons {
		if r == reason {
			return r
		}
	}
	return "signal"
}

// Revoked counts and audits a revocation this instance recorded.
func (r *Recorder) Revoked(e revocation.Entry) {
	tokenRevocations.WithLabelValues(string(e.Kind), revocationReason(e.Reason)).Inc()
	ev := stepup.Event{Name: EventRevocationRecorded, Reason: e.Reason}
	switch e.Kind {
	case revocation.Subject:
		ev.UserID = e.Value
	case revocation.Session:
		ev.SessionID = e.Value
	}
	r.write(ev, string(e.Kind))
}

// RevokedTokenRefused audits a request refused because its token was
// revoked by e (the decision itself is counted with the handler's
// outcomes).
func (r *Recorder) RevokedTokenRefused(e *revocation.Entry, subject, session, clientIP string) {
	r.write(stepup.Event{Name: EventRevocationEnforced, UserID: subject, SessionID: session, ClientIP: clientIP, Reason: e.Reason}, string(e.Kind))
}

// RevocationRead counts a read of the shared revocation list
// (revocation.Options.OnRead) and the list's size.
func RevocationRead(rep revocation.ReadReport) {
	result := "ok"
	if rep.Err != nil {
		result = "error"
	}
	revocationReads.WithLabelValues(result).Inc()
	revocationSize.Set(float64(rep.Entries))
}

// RevocationStale sets caddy_stepup_revocation_list_stale.
func RevocationStale(stale bool) {
	v := 0.0
	if stale {
		v = 1
	}
	revocationStale.Set(v)
}
