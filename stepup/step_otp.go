package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Steps proven by a one-time code the gateway sends (verify_sms,
// verify_email).

// SendStepOTP sends (or, with retry, re-sends) the code of the current
// managed step to the user's verified identifier of the step's type. Two
// round trips: the challenge with its user, then the identifier's index,
// every lock and cap, and the challenge's new code together; when any of
// them refuses, the challenge goes back to what it was and the counters
// are given back, and no code is sent.
func (e *Engine) SendStepOTP(ctx context.Context, token string, retry bool, client ClientInfo) (string, error) {
	if e.cfg.Sender == nil {
		return "", ErrNotConfigured
	}
	var userRead *store.Op
	c, raw, err := e.loadChallengeWith(ctx, token, nil, func(ref *challengeRef) []*store.Op {
		userRead = store.GetOp(userKey(ref.userID))
		return []*store.Op{userRead}
	})
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
	ident := Identifier{Type: kind.codeTo, Value: to}
	var u userRecord
	if err := e.decode(userRead, &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", ErrNoVerifiedIdentifier
		}
		return "", err
	}
	if held := u.find(ident); held == nil || !e.proven(held) {
		return "", ErrNoVerifiedIdentifier
	}
	next := *c
	code, err := e.newCode(&next.OTP, c.ID, now)
	if err != nil {
		return "", err
	}
	ttl := remaining(c.Expires, now, c.lifetime())
	if ttl <= 0 {
		return "", ErrExpiredChallenge
	}
	// Every lock and cap, first send and resends alike. Step codes go to
	// the user's own identifier, for the user's session: they count in the
	// budget of the session's key, which strangers' login starts never
	// reach, and never in a client's unproven sends, which a pumper at the
	// same address may have spent (budgets.go). State first, then the
	// side effect: the code is sent only once the challenge holds it.
	counters := e.stepSendCounters(to, c.JKT, client)
	nextRaw := mustJSON(&next)
	index := store.GetOp(identKey(ident.Type, ident.Value))
	spend := store.SpendOp(e.lockOf(userFailKey(c.UserID)), storeCounters(counters))
	swap := store.SwapOp(challengeKey(c.ID), raw, nextRaw, ttl)
	store.Do(ctx, e.cfg.Store, index, spend, swap)
	if err := e.sendRefusal(c.UserID, index, spend, swap); err != nil {
		var undo []*store.Op
		if swap.Err == nil {
			undo = append(undo, store.SwapOp(challengeKey(c.ID), nextRaw, raw, ttl))
		}
		if spend.Err == nil && spend.Spent.OK() {
			for _, k := range keysOf(counters) {
				undo = append(undo, store.DecrOp(k))
			}
		}
		store.Do(ctx, e.cfg.Store, undo...)
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

// sendRefusal is why a step code may not go, from the batch that read the
// identifier's index, spent the counters and stored the new code, in the
// order the checks were made one by one: the index must still name the
// user, then the locks and caps, then the challenge must not have moved.
func (e *Engine) sendRefusal(userID string, index, spend, swap *store.Op) error {
	var owner string
	switch err := e.decode(index, &owner); {
	case errors.Is(err, store.ErrNotFound):
		return ErrNoVerifiedIdentifier
	case err != nil:
		return err
	case owner != userID:
		return ErrNoVerifiedIdentifier
	}
	if spend.Err != nil {
		return storeErr(spend.Err)
	}
	if !spend.Spent.OK() {
		return ErrRateLimited
	}
	if swap.Err != nil {
		return swapError(swap.Err)
	}
	return nil
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
// passkey options when that step is verify_passkey. Two round trips: the
// challenge with the guessing counters, then the attempt, counted and
// (for a right code within the attempts allowed) the challenge moved on
// in one atomic step.
func (e *Engine) AdvanceByCode(ctx context.Context, token, code string, proof *dpop.Proof, client ClientInfo) (*StepAnswer, error) {
	var guess guessCounters
	var reads []*store.Op
	c, raw, err := e.loadChallengeWith(ctx, token, nil, func(ref *challengeRef) []*store.Op {
		guess = guessCounters{account: userFailKey(ref.userID), client: clientFailKey(clientKey(client.IP))}
		reads = guess.reads()
		return reads
	})
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
	if err := e.judgeGuessing(&guess, reads); err != nil {
		return nil, err
	}
	ev := Event{UserID: c.UserID, SessionID: c.SessionID, Scope: e.scopeLabel(c.Scope), ClientIP: client.IP, Step: c.currentKey()}
	failed := func() (*StepAnswer, error) {
		ev.Name = EventStepUpCheckFailed
		e.emit(ev)
		return nil, ErrBadCheckCode
	}
	if e.now().UnixMilli() > c.OTP.Expires {
		return failed()
	}
	// The comparison is constant-time and its result is acted on only
	// after the attempt is counted, within the attempts allowed: N
	// parallel guesses can't all be evaluated. The next state is made
	// whatever the code (only a right one sends it), so that a right code
	// past the attempts allowed takes no longer than a wrong one; a next
	// verify_passkey step reads the user's passkeys, for a right code only.
	matched := otp.Match(e.codeKey, c.OTP.digestScope(c.ID), code, c.OTP.Digest)
	var rec *challengeRecord
	var options json.RawMessage
	if matched || !e.nextIsPasskeyStep(c) {
		if rec, options, err = e.nextStep(ctx, c, kind.amr, ""); err != nil {
			return nil, err
		}
	}
	var next []byte
	if rec != nil {
		next = mustJSON(rec)
	}
	if !matched {
		next = nil
	}
	ttl := remaining(c.Expires, e.now(), c.lifetime())
	if ttl <= 0 {
		return nil, ErrExpiredChallenge
	}
	triesKey := challengeTriesKey(c.ID, c.OTP.Gen)
	attempt := store.AttemptOp(triesKey, e.cfg.OTP.TTL+time.Minute, int64(e.cfg.OTP.MaxAttempts), challengeKey(c.ID), raw, next, ttl)
	store.Do(ctx, e.cfg.Store, attempt)
	switch {
	case errors.Is(attempt.Err, store.ErrConflict), errors.Is(attempt.Err, store.ErrNotFound):
		return nil, swapError(attempt.Err)
	case attempt.Err != nil:
		err := storeErr(attempt.Err)
		if matched {
			e.refundAttempt(ctx, triesKey, err)
		}
		return nil, err
	case attempt.N > int64(e.cfg.OTP.MaxAttempts):
		return failed()
	case !matched:
		if err := e.countFailure(ctx, &guess); err != nil {
			return nil, err
		}
		return failed()
	}
	// Resetting the failure counters after the step is completed is best
	// effort (they only stay higher than needed).
	e.clearGuessingBatch(ctx, &guess)
	ev.Name = EventStepUpStepDone
	e.emit(ev)
	return e.stepAnswer(rec, options)
}
