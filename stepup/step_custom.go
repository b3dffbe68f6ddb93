package stepup

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Custom steps, proven by a verification token the customer's backend
// signs.

// VerificationVerifier checks verification tokens of custom steps.
type VerificationVerifier interface {
	Verify(ctx context.Context, raw string) (*jwks.Claims, error)
}

// verificationClaims are the claims a custom step's verification token
// carries (prelude-protocol.md §8.5).
type verificationClaims struct {
	ChallengeID string
	Key         string
	Status      string
}

// readVerification reads a verified verification token's claims with
// exact names (a "Challenge_ID" is another claim, not this one), each a
// string, and applies the configured lifetime bound.
func (e *Engine) readVerification(vc *jwks.Claims) (*verificationClaims, error) {
	members, err := strictjson.ParseObject(vc.Raw)
	if err != nil || vc.ID == "" {
		return nil, ErrInvalidVerification
	}
	var v verificationClaims
	for name, dst := range map[string]*string{"challenge_id": &v.ChallengeID, "key": &v.Key, "status": &v.Status} {
		m, ok := members[name]
		if !ok || m.Kind != strictjson.String {
			return nil, ErrInvalidVerification
		}
		*dst = m.Text
	}
	if limit := e.cfg.VerificationMaxLifetime; limit > 0 {
		if vc.IssuedAt.IsZero() || vc.ExpiresAt.Sub(vc.IssuedAt) > limit {
			return nil, ErrInvalidVerification
		}
	}
	return &v, nil
}

// ContinueStepUp is AdvanceByVerification's new challenge token alone.
func (e *Engine) ContinueStepUp(ctx context.Context, caller Caller, token, verification string, proof *dpop.Proof) (string, error) {
	a, err := e.AdvanceByVerification(ctx, caller, token, verification, proof)
	if err != nil {
		return "", err
	}
	return a.ChallengeToken, nil
}

// AdvanceByVerification completes the current custom step with a
// verification token signed by the customer's backend: the challenge's
// new token, and the next step's passkey options when that step is
// verify_passkey.
func (e *Engine) AdvanceByVerification(ctx context.Context, caller Caller, token, verification string, proof *dpop.Proof) (*StepAnswer, error) {
	if e.cfg.Verifications == nil {
		return nil, ErrNotConfigured
	}
	c, raw, err := e.loadChallenge(ctx, token, &caller)
	if err != nil {
		return nil, err
	}
	if err := checkChallengeProof(c, proof); err != nil {
		return nil, err
	}
	if len(verification) > jwks.MaxTokenBytes {
		return nil, ErrInvalidVerification
	}
	vc, err := e.cfg.Verifications.Verify(ctx, verification)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			return nil, unavailable(err)
		}
		return nil, ErrInvalidVerification
	}
	v, err := e.readVerification(vc)
	if err != nil {
		return nil, err
	}
	if v.ChallengeID != c.ID || vc.Subject != c.UserID {
		return nil, ErrTokenMismatch
	}
	idx := -1
	for i, st := range c.Steps {
		if st.Key == v.Key {
			idx = i
		}
	}
	switch {
	case idx < 0:
		return nil, ErrStepNotFound
	case c.completed() || idx < c.Current:
		return nil, ErrTokenReused
	case idx > c.Current:
		return nil, ErrStepBypassed
	case !e.steps.kinds[v.Key].byBackend:
		return nil, ErrStepNotFound // the gateway's own steps are proven by their code only
	case v.Status != "completed":
		return nil, ErrStepNotCompleted
	}
	methods, err := readMethods(vc.AMR)
	if err != nil {
		return nil, err
	}
	// Long enough to outlive the token, leeway included, but no longer
	// than the challenge it serves can live: the backend chose exp.
	ttl := min(max(vc.ExpiresAt.Sub(e.now()), 0), c.lifetime()) + 2*time.Minute
	if err := e.cfg.Store.Create(ctx, verificationJTIKey(vc.ID), []byte("1"), ttl); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, ErrTokenReused
		}
		return nil, storeErr(err)
	}
	next, err := e.advance(ctx, c, raw, methods, "")
	if err == nil {
		e.emit(Event{Name: EventStepUpStepDone, UserID: c.UserID, SessionID: c.SessionID, Scope: e.scopeLabel(c.Scope), Step: v.Key})
	}
	return next, err
}
