package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// The step-up request: the policy (block, direct steps or the delegation
// hook) decides, and a challenge is opened.

// Limits of step-up requests (Prelude's documented metadata limits), and
// of challenges per user.
const (
	maxMetadataKeys     = 5
	maxMetadataKeyLen   = 12
	maxMetadataValueLen = 32
	maxOpenChallenges   = 10 // per user per openChallengeWindow
	openChallengeWindow = 10 * time.Minute
)

// ScopePolicy is how a scope is stepped up: exactly one of Block, HookURL
// and Direct is set.
type ScopePolicy struct {
	Block   bool
	HookURL string
	Direct  *DirectPolicy
	// ACR is the acr a completed step-up of the scope earns; "" means the
	// login's (Config.LoginACR).
	ACR string
}

// Caller is the verified access token of a request.
type Caller struct {
	UserID    string
	SessionID string
}

// StepUpResult is the answer to a step-up request.
type StepUpResult struct {
	Status         string
	ChallengeToken string // empty for block
	ChallengeID    string
	// PasskeyOptions are the WebAuthn request options of the first step
	// when it is verify_passkey (StepAnswer).
	PasskeyOptions json.RawMessage
}

// RequestStepUp starts a step-up for scope: the policy (block, direct
// steps, or the delegation hook) decides; a challenge bound to the user,
// the session and its DPoP key is created for continue and review.
func (e *Engine) RequestStepUp(ctx context.Context, caller Caller, scope string, metadata map[string]string, signals Signals) (res *StepUpResult, err error) {
	defer func() {
		ev := Event{UserID: caller.UserID, SessionID: caller.SessionID, Scope: e.scopeLabel(scope), ClientIP: signals.IP}
		var he *hookError
		switch {
		case res != nil:
			ev.Name, ev.Outcome = EventStepUpRequested, res.Status
		case errors.As(err, &he):
			ev.Name, ev.Reason = EventHookFailed, he.reason
		default:
			return
		}
		e.emit(ev)
	}()
	if len(e.cfg.Scopes) == 0 {
		return nil, ErrNotConfigured
	}
	if !ValidKey(scope) {
		return nil, ErrScopeNotAllowed
	}
	policy, ok := e.cfg.Scopes[scope]
	if !ok {
		return nil, ErrScopeNotAllowed
	}
	if err := e.checkMetadata(metadata); err != nil {
		return nil, err
	}
	// The cap comes before the hook: a client past it costs the customer's
	// backend nothing. It is counted in the batch that reads the session
	// and the user, and given back when they refuse the caller.
	var opened *store.Op
	if !policy.Block {
		opened = store.IncrOp(userChallengesKey(caller.UserID), openChallengeWindow)
	}
	sess, user, err := e.callerSession(ctx, caller, opened)
	if err != nil {
		if opened != nil && opened.Err == nil {
			e.giveBack(ctx, []string{opened.Key})
		}
		return nil, err
	}
	if policy.Block {
		return &StepUpResult{Status: StatusBlock}, nil
	}
	if opened.Err != nil {
		return nil, storeErr(opened.Err)
	}
	if opened.N > maxOpenChallenges {
		return nil, ErrTooManyChallenges
	}
	// Only identifiers that count for the user (users.go) reach the hook
	// and the challenge: a provider's unproven word reaches neither.
	dest, err := e.destinations(ctx, user)
	if err != nil {
		return nil, err
	}
	var d *Decision
	if policy.Direct != nil {
		d = policy.Direct.decision()
	} else {
		d, err = e.callHook(ctx, policy.HookURL, hookRequest{ScopeRequested: scope, UserID: user.ID,
			Identifiers: dest, Signals: signals, Metadata: nonNil(metadata)})
		if err != nil {
			return nil, err
		}
	}
	if d.Status == StatusBlock {
		return &StepUpResult{Status: StatusBlock}, nil
	}
	now := e.now()
	c := &challengeRecord{V: recordVersion, ID: newID(prefixChallenge), UserID: user.ID, SessionID: sess.ID, JKT: sess.JKT,
		Scope: scope, Metadata: metadata, Identifiers: dest, Steps: d.Steps, GrantMode: d.GrantMode, GrantedFor: d.GrantedFor}
	ttl := c.lifetime()
	c.Expires = now.Add(ttl).Unix()
	c.StepEnds = e.stepEnd(c, now)
	if err := e.canDoPasskeySteps(ctx, user.ID, d.Steps); err != nil {
		return nil, err
	}
	options, err := e.beginPasskeyStep(ctx, c)
	if err != nil {
		return nil, err
	}
	tok, err := e.issueChallengeToken(c)
	if err != nil {
		return nil, err
	}
	if err := e.cfg.Store.Create(ctx, challengeKey(c.ID), mustJSON(c), ttl); err != nil {
		return nil, storeErr(err)
	}
	return &StepUpResult{Status: d.Status, ChallengeToken: tok, ChallengeID: c.ID, PasskeyOptions: options}, nil
}

// canDoPasskeySteps refuses, before any challenge exists, steps that
// include verify_passkey for a user without a usable passkey: the SDKs
// then fall back to another step (passkey_step_unavailable).
func (e *Engine) canDoPasskeySteps(ctx context.Context, userID string, steps []Step) error {
	if !hasPasskeyStep(steps) {
		return nil
	}
	if e.cfg.Passkeys == nil {
		return ErrPasskeyStepUnavailable // a hook's answer is checked against the steps; not reached
	}
	l, _, err := e.loadPasskeys(ctx, userID)
	if err != nil {
		return err
	}
	if len(l.usable(e.cfg.Passkeys.RPID)) == 0 {
		return ErrPasskeyStepUnavailable
	}
	return nil
}

// callerSession loads the caller's live session and user, in one batch
// with the ops also given (nil ones left out), whose results the caller
// reads.
func (e *Engine) callerSession(ctx context.Context, caller Caller, also ...*store.Op) (*sessionRecord, *userRecord, error) {
	if !validID(prefixSession, caller.SessionID) || !validID(prefixUser, caller.UserID) {
		return nil, nil, ErrUnauthorized
	}
	sessionRead, userRead := store.GetOp(sessionKey(caller.SessionID)), store.GetOp(userKey(caller.UserID))
	ops := []*store.Op{sessionRead, userRead}
	for _, op := range also {
		if op != nil {
			ops = append(ops, op)
		}
	}
	store.Do(ctx, e.cfg.Store, ops...)
	var s sessionRecord
	if err := e.decode(sessionRead, &s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrUnauthorized
		}
		return nil, nil, err
	}
	if s.UserID != caller.UserID || e.now().Unix() >= s.Expires {
		return nil, nil, ErrUnauthorized
	}
	var u userRecord
	if err := e.decode(userRead, &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrUnauthorized
		}
		return nil, nil, err
	}
	return &s, &u, nil
}

// checkMetadata applies Prelude's limits, and RFC 8707's to the resource
// a step-up names: a resource some route names.
func (e *Engine) checkMetadata(m map[string]string) error {
	if len(m) > maxMetadataKeys {
		return ErrInvalidMetadata
	}
	for k, v := range m {
		if k == ResourceMetadataKey {
			if len(v) > maxResourceLen || !e.knownResource(v) {
				return ErrInvalidMetadata
			}
			continue
		}
		if k == "" || len(k) > maxMetadataKeyLen || len(v) > maxMetadataValueLen {
			return ErrInvalidMetadata
		}
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
