package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// ChallengeTokenType is the `typ` of challenge tokens: distinct from access
// tokens, so that one can never be presented as the other.
const ChallengeTokenType = "stepup-challenge+jwt"

// CurrentStepCompleted is the SDK's marker of a finished challenge.
const CurrentStepCompleted = "completed"

// completedTTL is how long a completed challenge may wait for its
// redemption.
const completedTTL = 5 * time.Minute

// challengeRecord is the authoritative state of a challenge.
type challengeRecord struct {
	V         int               `json:"v"`
	ID        string            `json:"id"`
	UserID    string            `json:"user_id"`
	SessionID string            `json:"session_id"`
	JKT       string            `json:"jkt"`
	Scope     string            `json:"scope"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	// The identifiers that counted for the user when the challenge was
	// created (users.go): the only destinations its OTP steps send codes
	// to, each read again at the send.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Steps       []Step       `json:"steps"`
	Current     int          `json:"current"` // index of the step to do; len(Steps) = completed
	StepEnds    int64        `json:"step_ends"`
	GrantMode   string       `json:"grant_mode"`
	GrantedFor  int          `json:"granted_for"`
	TokenJTI    string       `json:"token_jti"` // the one challenge token that is current
	Redeemed    bool         `json:"redeemed,omitempty"`
	// The refresh that redeemed it (session, refresh generation, DPoP key),
	// and what it granted: a retry of that same refresh whose session
	// rotation did not land finishes the redemption instead of finding
	// the token reused.
	RedeemedBy string `json:"redeemed_by,omitempty"`
	GrantID    string `json:"grant_id,omitempty"`
	GrantEnd   int64  `json:"grant_end,omitempty"`
	// AMR are the methods of the steps done so far; Completed is when the
	// last one was (Unix s): the authentication event a redemption records.
	AMR       []string `json:"amr,omitempty"`
	Completed int64    `json:"completed,omitempty"`
	Expires   int64    `json:"expires"` // Unix s
	OTP       otpState `json:"otp"`     // of the current managed step
	// Passkey is the WebAuthn ceremony of the current verify_passkey step,
	// begun when the step became current (its challenge is this record's
	// own, bound to the challenge token's state).
	Passkey *passkeyCeremony `json:"passkey,omitempty"`
	// PasskeyLevel is what the passkey steps done so far proved: hwk when
	// every one used a device-bound passkey, swk when one used a syncable
	// one, "" when none was done.
	PasskeyLevel string `json:"passkey_level,omitempty"`
}

func (c *challengeRecord) completed() bool { return c.Current >= len(c.Steps) }

// lifetime is how long the challenge may live in all: each step's time,
// and the wait for its redemption.
func (c *challengeRecord) lifetime() time.Duration {
	d := completedTTL
	for _, st := range c.Steps {
		d += time.Duration(st.ExpirationDuration) * time.Second
	}
	return d
}

func (c *challengeRecord) currentKey() string {
	if c.completed() {
		return CurrentStepCompleted
	}
	return c.Steps[c.Current].Key
}

// challengeClaims are the claims of a challenge token, as the SDK reads
// them (prelude-protocol.md §8.4).
type challengeClaims struct {
	Iss            string            `json:"iss"`
	Aud            string            `json:"aud"`
	Sub            string            `json:"sub"`
	Sid            string            `json:"sid"`
	Jti            string            `json:"jti"`
	Iat            int64             `json:"iat"`
	Exp            int64             `json:"exp"`
	ChallengeID    string            `json:"challenge_id"`
	ScopeRequested string            `json:"scope_requested"`
	CurrentStep    string            `json:"current_step"`
	Metadata       map[string]string `json:"metadata"`
	Steps          []tokenStep       `json:"steps"`
	GrantMode      string            `json:"grant_mode"`
	GrantedFor     int               `json:"granted_for"`
}

type tokenStep struct {
	Order              int    `json:"order"`
	Key                string `json:"key"`
	ExpirationDuration int    `json:"expiration_duration"`
	Done               bool   `json:"done"`
}

// stepEnd is when the current step (or, completed, the redemption) expires.
func (e *Engine) stepEnd(c *challengeRecord, now time.Time) int64 {
	if c.completed() {
		return min(now.Add(completedTTL).Unix(), c.Expires)
	}
	return now.Add(time.Duration(c.Steps[c.Current].ExpirationDuration) * time.Second).Unix()
}

// issueChallengeToken signs a new token (new jti) for the challenge's
// current state and records the jti as the current one.
func (e *Engine) issueChallengeToken(c *challengeRecord) (string, error) {
	c.TokenJTI = newID(prefixToken)
	return e.signChallengeToken(c)
}

// signChallengeToken signs the token of the challenge's current state,
// whose jti is c.TokenJTI.
func (e *Engine) signChallengeToken(c *challengeRecord) (string, error) {
	steps := make([]tokenStep, len(c.Steps))
	for i, st := range c.Steps {
		steps[i] = tokenStep{Order: i + 1, Key: st.Key, ExpirationDuration: st.ExpirationDuration, Done: i < c.Current}
	}
	claims := challengeClaims{Iss: e.cfg.Issuer, Aud: e.cfg.Issuer, Sub: c.UserID, Sid: c.SessionID, Jti: c.TokenJTI,
		Iat: e.now().Unix(), Exp: c.StepEnds, ChallengeID: c.ID, ScopeRequested: c.Scope, CurrentStep: c.currentKey(),
		Metadata: nonNil(c.Metadata), Steps: steps, GrantMode: c.GrantMode, GrantedFor: c.GrantedFor}
	tok, err := e.cfg.Signer.Sign(ChallengeTokenType, claims)
	if err != nil {
		return "", unavailable(err)
	}
	if e.signed != nil {
		e.signed.add(tok, challengeRef{id: c.ID, userID: c.UserID, sessionID: c.SessionID, jti: c.TokenJTI}, claims.Exp)
	} else {
		admit(e.cfg.ChallengeVerifier, tok)
	}
	return tok, nil
}

// challengeRef is what a verified challenge token names: the challenge,
// its user and session, and the token's jti.
type challengeRef struct {
	id, userID, sessionID, jti string
}

// verifyChallenge verifies a challenge token. Tokens of other users or
// sessions (when a caller is known) look like any invalid token.
func (e *Engine) verifyChallenge(ctx context.Context, token string, caller *Caller) (*challengeRef, error) {
	if len(token) > jwks.MaxTokenBytes {
		return nil, ErrInvalidChallenge
	}
	if ref, ok := e.signed.find(token, e.now()); ok {
		if caller != nil && (ref.userID != caller.UserID || ref.sessionID != caller.SessionID) {
			return nil, ErrInvalidChallenge
		}
		return ref, nil
	}
	claims, err := e.cfg.ChallengeVerifier.Verify(ctx, token)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			return nil, unavailable(err)
		}
		if errors.Is(err, jwks.ErrExpired) {
			return nil, ErrExpiredChallenge
		}
		return nil, ErrInvalidChallenge
	}
	// The verifier read sub, sid and jti with exact names; challenge_id is
	// read the same way.
	members, err := strictjson.ParseObject(claims.Raw)
	if err != nil {
		return nil, ErrInvalidChallenge
	}
	challengeID, _, err := jose.String(members, "challenge_id")
	if err != nil || !validID(prefixChallenge, challengeID) {
		return nil, ErrInvalidChallenge
	}
	if caller != nil && (claims.Subject != caller.UserID || claims.SessionID != caller.SessionID) {
		return nil, ErrInvalidChallenge
	}
	return &challengeRef{id: challengeID, userID: claims.Subject, sessionID: claims.SessionID, jti: claims.ID}, nil
}

// readChallenge decodes the state a GET of the challenge's key read, and
// checks it against the token: stale tokens and unknown challenges are
// invalid or expired.
func (e *Engine) readChallenge(ref *challengeRef, read *store.Op) (*challengeRecord, []byte, error) {
	var c challengeRecord
	if err := e.decode(read, &c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrExpiredChallenge
		}
		return nil, nil, err
	}
	if c.TokenJTI != ref.jti || c.UserID != ref.userID || c.SessionID != ref.sessionID {
		return nil, nil, ErrInvalidChallenge
	}
	if now := e.now().Unix(); now >= c.StepEnds || now >= c.Expires {
		return nil, nil, ErrExpiredChallenge
	}
	return &c, read.Result, nil
}

// loadChallenge verifies a challenge token and loads its state. Tokens of
// other users or sessions (when a caller is known), stale tokens and
// unknown challenges all look the same: invalid.
func (e *Engine) loadChallenge(ctx context.Context, token string, caller *Caller) (*challengeRecord, []byte, error) {
	return e.loadChallengeWith(ctx, token, caller, nil)
}

// loadChallengeWith is loadChallenge that also sends, in the same batch
// as the challenge's read, the ops with returns for what the token names
// (the caller reads their results).
func (e *Engine) loadChallengeWith(ctx context.Context, token string, caller *Caller,
	with func(ref *challengeRef) []*store.Op) (*challengeRecord, []byte, error) {
	ref, err := e.verifyChallenge(ctx, token, caller)
	if err != nil {
		return nil, nil, err
	}
	read := store.GetOp(challengeKey(ref.id))
	ops := []*store.Op{read}
	if with != nil {
		ops = append(ops, with(ref)...)
	}
	store.Do(ctx, e.cfg.Store, ops...)
	return e.readChallenge(ref, read)
}

// checkChallengeProof applies the SDK's challenge-bound DPoP rules
// (prelude-protocol.md §6.4): the session's key, jti = the token's jti, no
// nonce, no replay check (the same proof jti is reused on retries).
func checkChallengeProof(c *challengeRecord, proof *dpop.Proof) error {
	if c.JKT == "" {
		return nil
	}
	if proof == nil {
		return ErrMissingDPoP
	}
	if proof.Thumbprint != c.JKT {
		return ErrDPoPKeyMismatch
	}
	if proof.ID != c.TokenJTI {
		return ErrInvalidDPoP
	}
	return nil
}

// StepAnswer is a challenge opened or moved on: its current token and,
// when its current step is verify_passkey, the WebAuthn request options
// the client passes to navigator.credentials.get (flat
// PublicKeyCredentialRequestOptionsJSON, with rpId).
type StepAnswer struct {
	ChallengeToken string
	PasskeyOptions json.RawMessage
}

// advance marks the current step done, proven with methods (and, for a
// passkey step, a passkey of level hwk or swk), begins the next step's
// ceremony when it is a passkey's, and issues the next token. Of
// concurrent advances from one state, exactly one succeeds.
func (e *Engine) advance(ctx context.Context, c *challengeRecord, raw []byte, methods []string, passkeyLevel string) (*StepAnswer, error) {
	next, options, err := e.nextStep(ctx, c, methods, passkeyLevel)
	if err != nil {
		return nil, err
	}
	if err := e.swapChallenge(ctx, c, raw, next); err != nil {
		return nil, err
	}
	return e.stepAnswer(next, options)
}

// nextStep is the challenge's state once its current step is done, with
// the jti of its next token and the next step's passkey options, if any;
// nothing is stored or signed.
func (e *Engine) nextStep(ctx context.Context, c *challengeRecord, methods []string, passkeyLevel string) (*challengeRecord, json.RawMessage, error) {
	now := e.now()
	next := *c
	next.Current++
	next.OTP = otpState{}
	next.AMR = addMethods(slices.Clone(c.AMR), methods)
	next.PasskeyLevel = weakerLevel(c.PasskeyLevel, passkeyLevel)
	if next.completed() {
		next.Completed = now.Unix()
	}
	next.StepEnds = e.stepEnd(&next, now)
	options, err := e.beginPasskeyStep(ctx, &next)
	if err != nil {
		return nil, nil, err
	}
	next.TokenJTI = newID(prefixToken)
	return &next, options, nil
}

// stepAnswer signs the token of a state just stored.
func (e *Engine) stepAnswer(next *challengeRecord, options json.RawMessage) (*StepAnswer, error) {
	tok, err := e.signChallengeToken(next)
	if err != nil {
		return nil, err
	}
	return &StepAnswer{ChallengeToken: tok, PasskeyOptions: options}, nil
}

// swapError maps the answer of a challenge's compare-and-swap.
func swapError(err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return ErrInvalidChallenge // another request moved the challenge on
	case errors.Is(err, store.ErrNotFound):
		return ErrExpiredChallenge
	}
	return storeErr(err)
}

func (e *Engine) swapChallenge(ctx context.Context, c *challengeRecord, raw []byte, next *challengeRecord) error {
	ttl := remaining(c.Expires, e.now(), c.lifetime())
	if ttl <= 0 {
		return ErrExpiredChallenge
	}
	return swapError(e.cfg.Store.Swap(ctx, challengeKey(c.ID), raw, mustJSON(next), ttl))
}
