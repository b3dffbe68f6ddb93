package stepup

import (
	"context"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
)

// Steps proven by a one-time code the gateway sends (verify_sms,
// verify_email).

// SendStepOTP sends (or, with retry, re-sends) the code of the current
// managed step to the user's verified identifier of the step's type.
func (e *Engine) SendStepOTP(ctx context.Context, token string, retry bool, client ClientInfo) (string, error) {
	if e.cfg.Sender == nil {
		return "", ErrNotConfigured
	}
	c, raw, err := e.loadChallenge(ctx, token, nil)
	if err != nil {
		return "", err
	}
	kind, ok := e.steps.kind(c.currentKey())
	if !ok || kind.codeTo == "" {
		return "", ErrStepNotFound
	}
	now := e.now()
	if c.OTP.Sends > 0 {
		if err := c.OTP.mayResend(now, &e.cfg.OTP); err != nil {
			return "", err
		}
	} else if retry {
		return "", ErrBadRequest
	}
	to := ""
	for _, id := range c.Identifiers {
		if id.Type == kind.codeTo {
			to = id.Value
		}
	}
	if to == "" {
		return "", ErrNoVerifiedIdentifier
	}
	// Read again at the send: the identifier must still count for the
	// user (users.go), whatever the challenge recorded when it was made.
	reaches, err := e.stillReaches(ctx, c.UserID, Identifier{Type: kind.codeTo, Value: to})
	if err != nil {
		return "", err
	}
	if !reaches {
		return "", ErrNoVerifiedIdentifier
	}
	// Every lock and cap, first send and resends alike. Step codes go to
	// the user's own identifier, for the user's session: they count in the
	// budget of the session's key, which strangers' login starts never
	// reach, and never in a client's unproven sends, which a pumper at the
	// same address may have spent (budgets.go).
	if err := e.spend(ctx, userFailKey(c.UserID), e.stepSendCounters(to, c.JKT, client)); err != nil {
		return "", err
	}
	next := *c
	code, err := e.newCode(&next.OTP, c.ID, now)
	if err != nil {
		return "", err
	}
	if err := e.swapChallenge(ctx, c, raw, &next); err != nil {
		return "", err
	}
	err = e.send(ctx, otp.Message{Channel: channelOf(kind.codeTo), To: to, Code: code, Purpose: otp.PurposeStepUp,
		ExpiresAt: time.UnixMilli(next.OTP.Expires), ChallengeID: c.ID, Scope: c.Scope})
	if err == nil {
		e.emit(Event{Name: EventStepUpCodeSent, UserID: c.UserID, SessionID: c.SessionID, Scope: e.scopeLabel(c.Scope),
			Channel: channelOf(kind.codeTo), ClientIP: client.IP})
	}
	return c.ID, err
}

// CheckStepOTP is AdvanceByCode's new challenge token alone.
func (e *Engine) CheckStepOTP(ctx context.Context, token, code string, proof *dpop.Proof, client ClientInfo) (string, error) {
	a, err := e.AdvanceByCode(ctx, token, code, proof, client)
	if err != nil {
		return "", err
	}
	return a.ChallengeToken, nil
}

// AdvanceByCode checks the code of the current managed step and, when it
// is right, advances the challenge: its new token, and the next step's
// passkey options when that step is verify_passkey.
func (e *Engine) AdvanceByCode(ctx context.Context, token, code string, proof *dpop.Proof, client ClientInfo) (*StepAnswer, error) {
	c, raw, err := e.loadChallenge(ctx, token, nil)
	if err != nil {
		return nil, err
	}
	if err := checkChallengeProof(c, proof); err != nil {
		return nil, err
	}
	kind, ok := e.steps.kind(c.currentKey())
	if !ok || kind.codeTo == "" {
		return nil, ErrStepNotFound
	}
	if c.OTP.Digest == nil || len(code) > 16 {
		return nil, ErrBadCheckCode
	}
	guess := guessCounters{account: userFailKey(c.UserID), client: clientFailKey(clientKey(client.IP))}
	if err := e.checkGuessing(ctx, &guess); err != nil {
		return nil, err
	}
	ev := Event{UserID: c.UserID, SessionID: c.SessionID, Scope: e.scopeLabel(c.Scope), ClientIP: client.IP, Step: c.currentKey()}
	triesKey := challengeTriesKey(c.ID, c.OTP.Gen)
	if err := e.checkCode(ctx, triesKey, c.ID, code, &c.OTP, &guess); err != nil {
		if err == ErrBadCheckCode {
			ev.Name = EventStepUpCheckFailed
			e.emit(ev)
		}
		return nil, err
	}
	// The step is completed first; resetting the failure counters after it
	// is best effort (they only stay higher than needed), so that a store
	// failure there does not turn a completed step into a 503.
	next, err := e.advance(ctx, c, raw, kind.amr, "")
	if err != nil {
		e.refundAttempt(ctx, triesKey, err)
		return nil, err
	}
	_ = e.clearGuessing(ctx, &guess)
	ev.Name = EventStepUpStepDone
	e.emit(ev)
	return next, nil
}
