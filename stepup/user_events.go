package stepup

import "time"

// What the app's backend hears of its users, as Prelude's Session product
// tells it with webhooks: a user created, an identifier that now counts
// for a user, a session opened or ended (Config.UserEvents).
//
// Unlike the security events (events.go), a user event carries the
// identifiers it is about, as Prelude's webhooks do; and only identifiers
// that count for the user (users.go: proven by the gateway's code, or by a
// provider trusted with its verified addresses, and indexed to the user):
// an address a provider asserted without that trust never appears, nor
// does a code, a token or a secret. User events never reach the audit log
// or the metrics.

// Kinds of user event: the names of Prelude's webhook events.
const (
	UserCreated     = "user.created"
	IdentifierAdded = "user.identifier.created"
	SessionCreated  = "user.session.created"
	SessionRevoked  = "user.session.revoked"
)

// UserEvent is one change to a user or a session.
type UserEvent struct {
	Kind   string
	UserID string
	// SessionID is the session opened or ended (session events).
	SessionID string
	// Identifiers are, for user.created, those that count for the new
	// user; for user.identifier.created, the one that now counts; for
	// user.session.created, the one the login proved (none for an OAuth
	// login, which proves a provider's subject).
	Identifiers []Identifier
	// Method is how a session was opened: otp, password or oauth.
	Method string
	// ClientIP and UserAgent are the client that opened a session.
	ClientIP  string
	UserAgent string
	// Reason is why a session ended: logout, user (the user's session
	// management), admin, reuse (a retired refresh token came back).
	Reason string
	// At is when it happened, by the engine's clock.
	At time.Time
}

// notify hands ev to the host, if it listens. Like emit, it is called in
// the request that caused the change: the host must not block.
func (e *Engine) notify(ev UserEvent) {
	if e.cfg.UserEvents == nil {
		return
	}
	ev.At = e.now()
	e.cfg.UserEvents(ev)
}

// userCreated reports a new user and the identifiers that count for it.
func (e *Engine) userCreated(u *userRecord) {
	e.notify(UserEvent{Kind: UserCreated, UserID: u.ID, Identifiers: e.provenOf(u)})
}

// provenOf lists u's identifiers that count as proven (users.go); the
// engine indexes an identifier to u before it records it as proven.
func (e *Engine) provenOf(u *userRecord) []Identifier {
	out := []Identifier{}
	for i := range u.Identifiers {
		if e.proven(&u.Identifiers[i]) {
			out = append(out, u.Identifiers[i].Identifier)
		}
	}
	return out
}

// identifiersAdded reports each identifier that counts for next and did
// not count for before (an OAuth login of a user whose trusted provider
// vouched for a new address).
func (e *Engine) identifiersAdded(before, next *userRecord) {
	for i := range next.Identifiers {
		ui := &next.Identifiers[i]
		if !e.proven(ui) {
			continue
		}
		if old := before.find(ui.Identifier); old != nil && e.proven(old) {
			continue
		}
		e.notify(UserEvent{Kind: IdentifierAdded, UserID: next.ID, Identifiers: []Identifier{ui.Identifier}})
	}
}

// sessionRevoked reports a session ended.
func (e *Engine) sessionRevoked(s *sessionRecord, reason string) {
	e.notify(UserEvent{Kind: SessionRevoked, UserID: s.UserID, SessionID: s.ID, Reason: reason})
}
