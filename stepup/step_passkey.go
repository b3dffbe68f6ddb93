package stepup

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

// The verify_passkey step, proven by an assertion of one of the user's
// passkeys (Prelude's managed step of the same name, prelude-passkeys.md
// §5). The answer that makes it the current step (stepup/request,
// otp/check, stepup/continue) carries the request options; the client's
// assertion comes back on stepup/continue as passkey_assertion.

// beginPasskeyStep begins the WebAuthn ceremony of c's current step when
// it is a passkey's (else clears any previous one) and returns its
// request options: a new challenge, the user's credentials as
// allowCredentials. A user without a usable passkey cannot do the step.
func (e *Engine) beginPasskeyStep(ctx context.Context, c *challengeRecord) (json.RawMessage, error) {
	c.Passkey = nil
	if c.completed() {
		return nil, nil
	}
	if kind, _ := e.steps.kind(c.currentKey()); !kind.byPasskey {
		return nil, nil
	}
	l, _, err := e.loadPasskeys(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	usable := l.usable(e.cfg.Passkeys.RPID)
	if len(usable) == 0 {
		return nil, ErrPasskeyStepUnavailable
	}
	options, ceremony, err := e.requestOptions(ceremonyStep, usable)
	if err != nil {
		return nil, err
	}
	ceremony.UserID = c.UserID
	c.Passkey = ceremony
	return options, nil
}

// nextIsPasskeyStep says whether the step after c's current one is
// verify_passkey.
func (e *Engine) nextIsPasskeyStep(c *challengeRecord) bool {
	if c.Current+1 >= len(c.Steps) {
		return false
	}
	kind, _ := e.steps.kind(c.Steps[c.Current+1].Key)
	return kind.byPasskey
}

// weakerLevel combines what two passkey steps proved: hwk only when both
// did (or one was the only passkey step).
func weakerLevel(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case a == "hwk" && b == "hwk":
		return "hwk"
	}
	return "swk"
}

// AdvanceByPasskey completes the current verify_passkey step with an
// assertion (AuthenticationResponseJSON). caller is the access token's
// user and session; nil when the request carried no access token, as
// Android's SDK sends it (prelude-passkeys.md §11.1): the
// challenge-bound DPoP proof then stands for it, and must be there, of
// the session's key, with the challenge token's jti, and the session
// must still be live.
func (e *Engine) AdvanceByPasskey(ctx context.Context, caller *Caller, token string, assertion []byte, proof *dpop.Proof, client ClientInfo) (*StepAnswer, error) {
	if e.cfg.Passkeys == nil {
		return nil, ErrPasskeyNotConfigured
	}
	c, raw, err := e.loadChallenge(ctx, token, caller)
	if err != nil {
		return nil, err
	}
	if caller == nil {
		if c.JKT == "" {
			return nil, ErrUnauthorized // a challenge of a session without a key has no proof to stand for the token
		}
		if proof == nil {
			return nil, ErrMissingDPoP
		}
		if _, _, err := e.callerSession(ctx, Caller{UserID: c.UserID, SessionID: c.SessionID}); err != nil {
			return nil, err
		}
	}
	if err := checkChallengeProof(c, proof); err != nil {
		return nil, err
	}
	if err := e.passkeyStepIsCurrent(c); err != nil {
		return nil, err
	}
	ev := Event{UserID: c.UserID, SessionID: c.SessionID, Scope: e.scopeLabel(c.Scope), ClientIP: client.IP, Step: StepVerifyPasskey}
	use, _, err := e.verifyAssertion(ctx, c.Passkey, assertion, ErrPasskeyAssertion, ev)
	if err != nil {
		if err == ErrPasskeyAssertion {
			ev.Name = EventStepUpCheckFailed
			e.emit(ev)
		}
		return nil, err
	}
	next, err := e.advance(ctx, c, raw, use.methods(), use.level())
	if err != nil {
		return nil, err
	}
	ev.Name = EventStepUpStepDone
	e.emit(ev)
	return next, nil
}

// passkeyStepIsCurrent refuses an assertion for a challenge whose current
// step is not a passkey's, with the SDK's step codes.
func (e *Engine) passkeyStepIsCurrent(c *challengeRecord) error {
	if kind, _ := e.steps.kind(c.currentKey()); kind.byPasskey && c.Passkey != nil {
		return nil
	}
	at := slices.IndexFunc(c.Steps, func(s Step) bool { return s.Key == StepVerifyPasskey })
	switch {
	case at < 0:
		return ErrStepNotFound
	case at < c.Current:
		return ErrTokenReused // done already
	case at > c.Current:
		return ErrStepBypassed // steps before it come first
	}
	return ErrPasskeyStepUnavailable // a challenge stored without its ceremony
}
