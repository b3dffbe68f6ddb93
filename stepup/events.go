package stepup

// Security events: what the engine did, for the audit log and the metrics
// the host keeps (Config.Events). An event never carries a token, a code,
// a password or an identifier's value: users and sessions by ID only.

// Event names. They are part of the audit log's contract: stable.
const (
	EventLoginCodeSent     = "login.code_sent"       // a login (or sign-up) code went out
	EventLoginSucceeded    = "login.succeeded"       // a session was opened
	EventLoginFailed       = "login.failed"          // a wrong code, password or provider answer
	EventLoginLocked       = "login.locked"          // refused by a failure lock or delay
	EventSignUpConflict    = "signup.conflict"       // a proven address already had a password
	EventStepUpRequested   = "stepup.requested"      // outcome: review, continue or block
	EventStepUpCodeSent    = "stepup.code_sent"      // a step's code went out
	EventStepUpStepDone    = "stepup.step_completed" // Step: the step's key
	EventStepUpCheckFailed = "stepup.check_failed"   // a wrong step code; Step: the step's key
	EventStepUpGranted     = "stepup.granted"        // a completed challenge redeemed; GrantMode
	EventGrantConsumed     = "grant.consumed"        // a single-use grant let one request through
	EventRefreshRotated    = "refresh.rotated"       // metrics only
	EventRefreshReuse      = "refresh.reuse_detected"
	EventSessionRevoked    = "session.revoked" // Reason: logout, user, admin
	EventGrantRevoked      = "grant.revoked"   // an operator revoked a user's grants
	EventHookFailed        = "hook.failed"     // Reason: why
	EventCodeSendFailed    = "otp.send_failed" // the sender failed; Purpose: the code's
	// Passkeys.
	EventPasskeyRegistered     = "passkey.registered"      // a credential was enrolled
	EventPasskeyDeleted        = "passkey.deleted"         // the user deleted one
	EventPasskeyCloneSuspected = "passkey.clone_suspected" // a sign count did not move forward: refused
)

// Event is one security event. Each field has one meaning; a field that
// does not apply to the event is empty.
type Event struct {
	Name      string
	UserID    string
	SessionID string
	// Scope is a configured scope's name, or "other" (scopeLabel).
	Scope    string
	ClientIP string
	// Method is how a login happened: otp, password, oauth or passkey.
	Method string
	// Channel of a code: sms or email.
	Channel string
	// Outcome is what was decided: review, continue or block
	// (stepup.requested), session_revoked (refresh.reuse_detected).
	Outcome string
	// Step is the key of the step the event is about (verify_sms,
	// verify_email, verify_passkey or a custom step's key).
	Step string
	// GrantMode is the grant's mode: GrantSingleUse or GrantSessionBound.
	GrantMode string
	// Purpose of a code: otp.PurposeLogin or otp.PurposeStepUp.
	Purpose string
	// Reason is why something failed or ended: bad_code, bad_credentials,
	// bad_passkey, provider_refused, locked (logins); logout, user, admin
	// (revocations); the hook's failure; sign_count (a passkey refused as
	// a possible clone).
	Reason string
}

// emit hands ev to the host, if it listens.
func (e *Engine) emit(ev Event) {
	if e.cfg.Events != nil {
		e.cfg.Events(ev)
	}
}

// scopeLabel is scope when the configuration knows it, else "other": a
// client's made-up scope names never reach logs or metrics as labels.
func (e *Engine) scopeLabel(scope string) string {
	if _, ok := e.cfg.Scopes[scope]; ok {
		return scope
	}
	return "other"
}

// loginResult reports how a login step ended: a session opened (tokens),
// a wrong secret, a lock, a conflict. Store failures report themselves.
func (e *Engine) loginResult(method string, client ClientInfo, tokens *Tokens, err error) {
	ev := Event{Method: method, ClientIP: client.IP}
	switch {
	case err == nil && tokens != nil:
		ev.Name, ev.UserID, ev.SessionID = EventLoginSucceeded, tokens.UserID, tokens.SessionID
		created := UserEvent{Kind: SessionCreated, UserID: tokens.UserID, SessionID: tokens.SessionID, Method: method,
			ClientIP: client.IP, UserAgent: client.UserAgent}
		if tokens.proved != nil {
			created.Identifiers = []Identifier{*tokens.proved}
		}
		defer e.notify(created)
	case err == ErrBadCheckCode:
		ev.Name, ev.Reason = EventLoginFailed, "bad_code"
	case err == ErrBadCredentials:
		ev.Name, ev.Reason = EventLoginFailed, "bad_credentials"
	case err == ErrPasskeyLoginFailed || err == ErrPasskeyBlocked:
		ev.Name, ev.Reason = EventLoginFailed, "bad_passkey"
	case err == ErrRateLimited:
		ev.Name, ev.Reason = EventLoginLocked, "locked"
	case err == ErrIdentifierExists:
		ev.Name = EventSignUpConflict
	default:
		return
	}
	e.emit(ev)
}
