package stepup

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// ChallengeTokenType is the `typ` of challenge tokens: distinct from access
// tokens, so that one can never be presented as the other.
const ChallengeTokenType = "stepup-challenge+jwt"

// CurrentStepCompleted is the SDK's marker of a finished challenge.
const CurrentStepCompleted = "completed"

// Limits of step-up requests (Prelude's documented metadata limits).
const (
	maxMetadataKeys     = 5
	maxMetadataKeyLen   = 12
	maxMetadataValueLen = 32
	maxOpenChallenges   = 10 // per user per openChallengeWindow
	openChallengeWindow = 10 * time.Minute
	completedTTL        = 5 * time.Minute // a completed challenge must be redeemed within this
)

// ScopePolicy is how a scope is stepped up. Exactly one field is set.
type ScopePolicy struct {
	Block   bool
	HookURL string
	Direct  *Decision // Status review, the configured steps and grant
}

// challengeRecord is the authoritative state of a challenge.
type challengeRecord struct {
	V         int               `json:"v"`
	ID        string            `json:"id"`
	UserID    string            `json:"user_id"`
	SessionID string            `json:"session_id"`
	JKT       string            `json:"jkt"`
	Scope     string            `json:"scope"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	// The user's verified identifiers when the challenge was created: the
	// only destinations its OTP steps send codes to.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Steps       []Step       `json:"steps"`
	Current     int          `json:"current"` // index of the step to do; len(Steps) = completed
	StepEnds    int64        `json:"step_ends"`
	GrantMode   string       `json:"grant_mode"`
	GrantedFor  int          `json:"granted_for"`
	TokenJTI    string       `json:"token_jti"` // the one challenge token that is current
	Redeemed    bool         `json:"redeemed,omitempty"`
	Expires     int64        `json:"expires"` // Unix s
	OTP         otpState     `json:"otp"`     // of the current managed step
}

func (c *challengeRecord) completed() bool { return c.Current >= len(c.Steps) }

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
}

// RequestStepUp starts a step-up for scope: the policy (block, direct
// steps, or the delegation hook) decides; a challenge bound to the user,
// the session and its DPoP key is created for continue and review.
func (e *Engine) RequestStepUp(ctx context.Context, caller Caller, scope string, metadata map[string]string, signals Signals) (*StepUpResult, error) {
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
	if err := checkMetadata(metadata); err != nil {
		return nil, err
	}
	sess, user, err := e.callerSession(ctx, caller)
	if err != nil {
		return nil, err
	}
	if policy.Block {
		return &StepUpResult{Status: StatusBlock}, nil
	}
	// The cap comes before the hook: a client past it costs the customer's
	// backend nothing.
	n, err := e.cfg.Store.Incr(ctx, userChallengesKey(user.ID), openChallengeWindow)
	if err != nil {
		return nil, storeErr(err)
	}
	if n > maxOpenChallenges {
		return nil, ErrTooManyChallenges
	}
	var d *Decision
	if policy.Direct != nil {
		copied := *policy.Direct
		copied.Steps = append([]Step(nil), policy.Direct.Steps...)
		d = &copied
	} else {
		d, err = e.callHook(ctx, policy.HookURL, hookRequest{ScopeRequested: scope, UserID: user.ID,
			Identifiers: user.Identifiers, Signals: signals, Metadata: nonNil(metadata)})
		if err != nil {
			return nil, err
		}
	}
	if d.Status == StatusBlock {
		return &StepUpResult{Status: StatusBlock}, nil
	}
	now := e.now()
	c := &challengeRecord{V: recordVersion, ID: newID(prefixChallenge), UserID: user.ID, SessionID: sess.ID, JKT: sess.JKT,
		Scope: scope, Metadata: metadata, Identifiers: user.Identifiers, Steps: d.Steps, GrantMode: d.GrantMode, GrantedFor: d.GrantedFor}
	ttl := completedTTL
	for _, st := range d.Steps {
		ttl += time.Duration(st.ExpirationDuration) * time.Second
	}
	c.Expires = now.Add(ttl).Unix()
	c.StepEnds = e.stepEnd(c, now)
	tok, err := e.issueChallengeToken(c)
	if err != nil {
		return nil, err
	}
	if err := e.cfg.Store.Create(ctx, challengeKey(c.ID), mustJSON(c), ttl); err != nil {
		return nil, storeErr(err)
	}
	return &StepUpResult{Status: d.Status, ChallengeToken: tok, ChallengeID: c.ID}, nil
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
	return tok, nil
}

// loadChallenge verifies a challenge token and loads its state. Tokens of
// other users or sessions (when a caller is known), stale tokens and
// unknown challenges all look the same: invalid.
func (e *Engine) loadChallenge(ctx context.Context, token string, caller *Caller) (*challengeRecord, []byte, error) {
	if len(token) > jwks.MaxTokenBytes {
		return nil, nil, ErrInvalidChallenge
	}
	claims, err := e.cfg.ChallengeVerifier.Verify(ctx, token)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			return nil, nil, unavailable(err)
		}
		if errors.Is(err, jwks.ErrExpired) {
			return nil, nil, ErrExpiredChallenge
		}
		return nil, nil, ErrInvalidChallenge
	}
	var tc challengeClaims
	if err := jsonUnmarshal(claims.Raw, &tc); err != nil || !validID(prefixChallenge, tc.ChallengeID) {
		return nil, nil, ErrInvalidChallenge
	}
	if caller != nil && (tc.Sub != caller.UserID || tc.Sid != caller.SessionID) {
		return nil, nil, ErrInvalidChallenge
	}
	var c challengeRecord
	raw, err := e.load(ctx, challengeKey(tc.ChallengeID), &c)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrExpiredChallenge
		}
		return nil, nil, err
	}
	if c.TokenJTI != tc.Jti || c.UserID != tc.Sub || c.SessionID != tc.Sid {
		return nil, nil, ErrInvalidChallenge
	}
	if now := e.now().Unix(); now >= c.StepEnds || now >= c.Expires {
		return nil, nil, ErrExpiredChallenge
	}
	return &c, raw, nil
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
	key := c.currentKey()
	if key != StepVerifySMS && key != StepVerifyEmail {
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
	wantType := IdentifierPhone
	if key == StepVerifyEmail {
		wantType = IdentifierEmail
	}
	to := ""
	for _, id := range c.Identifiers {
		if id.Type == wantType {
			to = id.Value
		}
	}
	if to == "" {
		return "", newError(KindBadRequest, "invalid_identifier", "The account has no verified "+wantType+" for this step.")
	}
	// Every lock and cap, first send and resends alike. Step codes go to
	// the user's own identifier, for the user's session: they count in the
	// bucket of the session's key, which strangers' login starts never
	// reach.
	if _, err := e.checkLock(ctx, userFailKey(c.UserID)); err != nil {
		return "", err
	}
	if err := e.allowSend(ctx, client, c.JKT, deviceSendsKey(to, c.JKT)); err != nil {
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
	err = e.send(ctx, otp.Message{Channel: channelOf(wantType), To: to, Code: code, Purpose: otp.PurposeStepUp,
		ExpiresAt: time.UnixMilli(next.OTP.Expires), ChallengeID: c.ID, Scope: c.Scope})
	return c.ID, err
}

// CheckStepOTP checks the code of the current managed step and, when it
// is right, advances the challenge and returns its new token.
func (e *Engine) CheckStepOTP(ctx context.Context, token, code string, proof *dpop.Proof, client ClientInfo) (string, error) {
	c, raw, err := e.loadChallenge(ctx, token, nil)
	if err != nil {
		return "", err
	}
	if err := checkChallengeProof(c, proof); err != nil {
		return "", err
	}
	key := c.currentKey()
	if key != StepVerifySMS && key != StepVerifyEmail {
		return "", ErrStepNotFound
	}
	if c.OTP.Digest == nil || len(code) > 16 {
		return "", ErrBadCheckCode
	}
	guess := guessCounters{account: userFailKey(c.UserID), client: clientFailKey(clientKey(client.IP))}
	if err := e.checkGuessing(ctx, &guess); err != nil {
		return "", err
	}
	if err := e.checkCode(ctx, challengeTriesKey(c.ID, c.OTP.Gen), c.ID, code, &c.OTP, &guess); err != nil {
		return "", err
	}
	if err := e.clearGuessing(ctx, &guess); err != nil {
		return "", err
	}
	return e.advance(ctx, c, raw)
}

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

// ContinueStepUp completes the current custom step with a verification
// token signed by the customer's backend.
func (e *Engine) ContinueStepUp(ctx context.Context, caller Caller, token, verification string, proof *dpop.Proof) (string, error) {
	if e.cfg.Verifications == nil {
		return "", ErrNotConfigured
	}
	c, raw, err := e.loadChallenge(ctx, token, &caller)
	if err != nil {
		return "", err
	}
	if err := checkChallengeProof(c, proof); err != nil {
		return "", err
	}
	if len(verification) > jwks.MaxTokenBytes {
		return "", ErrInvalidVerification
	}
	vc, err := e.cfg.Verifications.Verify(ctx, verification)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			return "", unavailable(err)
		}
		return "", ErrInvalidVerification
	}
	v, err := e.readVerification(vc)
	if err != nil {
		return "", err
	}
	if v.ChallengeID != c.ID || vc.Subject != c.UserID {
		return "", ErrTokenMismatch
	}
	idx := -1
	for i, st := range c.Steps {
		if st.Key == v.Key {
			idx = i
		}
	}
	switch {
	case idx < 0:
		return "", ErrStepNotFound
	case c.completed() || idx < c.Current:
		return "", ErrTokenReused
	case idx > c.Current:
		return "", ErrStepBypassed
	case v.Key == StepVerifySMS || v.Key == StepVerifyEmail:
		return "", ErrStepNotFound // managed steps are proven by their code only
	case v.Status != "completed":
		return "", ErrStepNotCompleted
	}
	// Long enough to outlive the token, leeway included.
	ttl := max(vc.ExpiresAt.Sub(e.now()), 0) + 2*time.Minute
	if err := e.cfg.Store.Create(ctx, verificationJTIKey(vc.ID), []byte("1"), ttl); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", ErrTokenReused
		}
		return "", storeErr(err)
	}
	return e.advance(ctx, c, raw)
}

// advance marks the current step done and issues the next token. Of
// concurrent advances from one state, exactly one succeeds.
func (e *Engine) advance(ctx context.Context, c *challengeRecord, raw []byte) (string, error) {
	next := *c
	next.Current++
	next.OTP = otpState{}
	next.StepEnds = e.stepEnd(&next, e.now())
	tok, err := e.issueChallengeToken(&next)
	if err != nil {
		return "", err
	}
	if err := e.swapChallenge(ctx, c, raw, &next); err != nil {
		return "", err
	}
	return tok, nil
}

func (e *Engine) swapChallenge(ctx context.Context, c *challengeRecord, raw []byte, next *challengeRecord) error {
	ttl := time.Unix(c.Expires, 0).Sub(e.now())
	if ttl <= 0 {
		return ErrExpiredChallenge
	}
	err := e.cfg.Store.Swap(ctx, challengeKey(c.ID), raw, mustJSON(next), ttl)
	switch {
	case errors.Is(err, store.ErrConflict):
		return ErrInvalidChallenge // another request moved the challenge on
	case errors.Is(err, store.ErrNotFound):
		return ErrExpiredChallenge
	}
	return storeErr(err)
}

// grantRecord is a single-use grant, consumed by the stepup handler.
type grantRecord struct {
	V         int               `json:"v"`
	ID        string            `json:"id"`
	UserID    string            `json:"user_id"`
	SessionID string            `json:"session_id"`
	Scope     string            `json:"scope"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Expires   int64             `json:"expires"`
}

// redemption is what a completed challenge grants.
type redemption struct {
	scope   string
	end     int64  // Unix s
	grantID string // single-use: the stored grant
}

// apply adds a session-bound grant to the session being refreshed, or
// returns the single-use grant for the access token.
func (rd *redemption) apply(s *sessionRecord) *redemption {
	if rd == nil {
		return nil
	}
	if rd.grantID != "" {
		return rd
	}
	if s.Grants == nil {
		s.Grants = map[string]int64{}
	}
	s.Grants[rd.scope] = rd.end
	return nil
}

// redeemChallenge turns a completed challenge of session s into its grant,
// once: the challenge is marked redeemed (a second redemption is
// token_reused) and a single-use grant is stored.
func (e *Engine) redeemChallenge(ctx context.Context, s *sessionRecord, token string, proof *dpop.Proof) (*redemption, error) {
	c, raw, err := e.loadChallenge(ctx, token, &Caller{UserID: s.UserID, SessionID: s.ID})
	if err != nil {
		return nil, err
	}
	if c.Redeemed {
		return nil, ErrTokenReused
	}
	if !c.completed() {
		return nil, ErrStepNotCompleted
	}
	if c.JKT != "" && c.JKT != proof.Thumbprint {
		return nil, ErrDPoPKeyMismatch
	}
	next := *c
	next.Redeemed = true
	if err := e.swapChallenge(ctx, c, raw, &next); err != nil {
		if errors.Is(err, ErrInvalidChallenge) {
			return nil, ErrTokenReused // a concurrent redemption won
		}
		return nil, err
	}
	end := e.now().Add(time.Duration(c.GrantedFor) * time.Second)
	rd := &redemption{scope: c.Scope, end: end.Unix()}
	if c.GrantMode == GrantSessionBound {
		return rd, nil
	}
	g := grantRecord{V: recordVersion, ID: newID(prefixGrant), UserID: c.UserID, SessionID: c.SessionID, Scope: c.Scope,
		Metadata: c.Metadata, Expires: end.Unix()}
	if err := e.cfg.Store.Create(ctx, grantKey(g.ID, g.UserID, g.SessionID, g.Scope), mustJSON(g), time.Duration(c.GrantedFor)*time.Second); err != nil {
		return nil, storeErr(err)
	}
	rd.grantID = g.ID
	return rd, nil
}

// Grant is a consumed single-use grant.
type Grant struct {
	ID       string
	Scope    string
	Metadata map[string]string
}

// ConsumeGrant uses a single-use grant for one request: atomically, so of
// any number of concurrent requests on any number of instances exactly one
// gets it. A grant of another user, session or scope is not touched.
func (e *Engine) ConsumeGrant(ctx context.Context, grantID, userID, sessionID, scope string) (*Grant, error) {
	if !validID(prefixGrant, grantID) {
		return nil, ErrUnauthorized
	}
	// The key names the grant's user, session and scope: another caller's
	// Take looks up another key and never touches this grant.
	raw, err := e.cfg.Store.Take(ctx, grantKey(grantID, userID, sessionID, scope))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnauthorized
		}
		return nil, storeErr(err)
	}
	var g grantRecord
	if err := jsonUnmarshal(raw, &g); err != nil {
		return nil, unavailable(err)
	}
	if g.UserID != userID || g.SessionID != sessionID || g.Scope != scope || e.now().Unix() >= g.Expires {
		return nil, ErrUnauthorized // unreachable unless the key scheme changes; fail closed
	}
	return &Grant{ID: g.ID, Scope: g.Scope, Metadata: g.Metadata}, nil
}

// callerSession loads the caller's live session and user.
func (e *Engine) callerSession(ctx context.Context, caller Caller) (*sessionRecord, *userRecord, error) {
	if !validID(prefixSession, caller.SessionID) || !validID(prefixUser, caller.UserID) {
		return nil, nil, ErrUnauthorized
	}
	var s sessionRecord
	if _, err := e.load(ctx, sessionKey(caller.SessionID), &s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrUnauthorized
		}
		return nil, nil, err
	}
	if s.UserID != caller.UserID || e.now().Unix() >= s.Expires {
		return nil, nil, ErrUnauthorized
	}
	var u userRecord
	if _, err := e.load(ctx, userKey(s.UserID), &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrUnauthorized
		}
		return nil, nil, err
	}
	return &s, &u, nil
}

func checkMetadata(m map[string]string) error {
	if len(m) > maxMetadataKeys {
		return ErrInvalidMetadata
	}
	for k, v := range m {
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
