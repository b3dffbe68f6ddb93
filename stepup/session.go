package stepup

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// AccessTokenType is the `typ` of access tokens (RFC 9068).
const AccessTokenType = "at+jwt"

// sessionRecord is a session: its owner, the DPoP key it is bound to, and
// its refresh-token family. The refresh token of generation g is
// "<session id>.<g>.<HMAC(refresh key, id.g.nonce)>": only generation Gen
// is valid (and RetryGen, until RetryUntil, for a client re-sending a
// refresh whose answer it lost). Any other genuine generation is a retired
// token presented again: someone else holds a copy, and the session ends.
// The store keeps no token, and a forged one (anyone may know a session
// ID) is merely refused.
type sessionRecord struct {
	V          int              `json:"v"`
	ID         string           `json:"id"`
	UserID     string           `json:"user_id"`
	JKT        string           `json:"jkt"`
	Nonce      string           `json:"nonce"`                 // the family's salt
	Gen        int              `json:"gen"`                   // the current refresh token's generation
	RetryGen   int              `json:"retry_gen,omitempty"`   // the generation last rotated away from
	RetryUntil int64            `json:"retry_until,omitempty"` // Unix ms: RetryGen may be re-sent until then
	Created    int64            `json:"created"`               // Unix s
	LastSeen   int64            `json:"last_seen"`
	Expires    int64            `json:"expires"`
	UserAgent  string           `json:"user_agent,omitempty"`
	DeviceID   string           `json:"device_id,omitempty"` // X-Device-Id at login (or the last refresh that sent one)
	Grants     map[string]int64 `json:"grants,omitempty"`    // session-bound scope → Unix s end
	// Resources name the resource (RFC 8707) a session-bound grant's
	// step-up was for, by scope: its tokens name it in aud while the grant
	// lasts.
	Resources map[string]string `json:"resources,omitempty"`
	// Auth is the last authentication event: the login, then each
	// redeemed step-up. Its tokens carry it as acr, amr and auth_time.
	Auth authEvent `json:"auth"`
	// Proofs are the DPoP proofs refreshes used within their acceptance
	// window: a proof is refused again for as long as its iat could pass,
	// however many refreshes happen meanwhile, at no store round trip of
	// its own (they change with the session, in one compare-and-swap).
	Proofs []usedProof `json:"proofs,omitempty"`
}

// usedProof is a proof's jti and when it can no longer be accepted.
type usedProof struct {
	ID    string `json:"id"`
	Until int64  `json:"until"` // Unix ms
}

// Proof replay bounds on /refresh: a proof's iat is accepted for 70 s
// (dpop.DefaultMaxAge + DefaultMaxFuture), so its jti is kept longer; a
// session refreshing more than maxLiveProofs times within that time is
// refused until its proofs age out (the SDK refreshes every few minutes).
const (
	proofMemory   = 2 * time.Minute
	maxLiveProofs = 64
)

// liveProofs drops the proofs whose window has passed.
func liveProofs(proofs []usedProof, now time.Time) []usedProof {
	var out []usedProof
	for _, p := range proofs {
		if p.Until > now.UnixMilli() {
			out = append(out, p)
		}
	}
	return out
}

// Tokens is what a login or refresh returns to the client.
type Tokens struct {
	AccessToken      string
	ExpiresAt        time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	SessionID        string
	UserID           string
	// Device is the device cookie a login earns the client (device.go);
	// empty for refreshes.
	Device string
	// proved is the identifier a code or password login proved (for the
	// user.session.created event); nil for OAuth logins and refreshes.
	proved *Identifier
}

// accessClaims are the claims of the access tokens the gateway mints.
type accessClaims struct {
	Iss   string            `json:"iss"`
	Sub   string            `json:"sub"`
	Aud   audience          `json:"aud"`
	Exp   int64             `json:"exp"`
	Iat   int64             `json:"iat"`
	Nbf   int64             `json:"nbf"`
	Jti   string            `json:"jti"`
	Sid   string            `json:"sid"`
	Scope string            `json:"scope"`
	Grant map[string]string `json:"grt,omitempty"` // single-use scope → grant ID
	// The last authentication event (RFC 9470, OpenID Connect Core §2).
	AuthTime int64    `json:"auth_time"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	// What a single-use grant was approved for (RFC 9396).
	AuthorizationDetails []GrantDetails `json:"authorization_details,omitempty"`
}

// createSession starts a session bound to the DPoP key jkt, after the login
// event.
func (e *Engine) createSession(ctx context.Context, u *userRecord, jkt string, event authEvent, client ClientInfo) (*Tokens, error) {
	s := e.newSession(u, jkt, event, client)
	ops := e.sessionWrites(s)
	store.Do(ctx, e.cfg.Store, ops...)
	for _, op := range ops {
		if op.Err != nil {
			return nil, storeErr(op.Err)
		}
	}
	return e.mint(s, nil)
}

// newSession is a new session of u bound to the DPoP key jkt, after the
// login event; nothing is stored.
func (e *Engine) newSession(u *userRecord, jkt string, event authEvent, client ClientInfo) *sessionRecord {
	now := e.now()
	return &sessionRecord{
		V: recordVersion, ID: newID(prefixSession), UserID: u.ID, JKT: jkt, Nonce: newSecret(), Gen: 1,
		Created: now.Unix(), LastSeen: now.Unix(), Expires: now.Add(e.cfg.RefreshTokenTTL).Unix(),
		UserAgent: truncate(client.UserAgent, 256), DeviceID: client.DeviceID, Auth: event,
	}
}

// sessionWrites store a new session and list it under its user, in one
// batch.
func (e *Engine) sessionWrites(s *sessionRecord) []*store.Op {
	return []*store.Op{store.CreateOp(sessionKey(s.ID), mustJSON(s), e.cfg.RefreshTokenTTL),
		store.AddMemberOp(userSessionsKey(s.UserID), s.ID, e.cfg.RefreshTokenTTL)}
}

// discardSession ends a session created for a login that could not
// finish (its flow was spent by another answer, or the store failed): no
// client holds its tokens. Best effort: what remains expires with its TTL.
func (e *Engine) discardSession(ctx context.Context, t *Tokens) {
	_ = e.cfg.Store.Delete(ctx, sessionKey(t.SessionID))
	_ = e.cfg.Store.RemoveMember(ctx, userSessionsKey(t.UserID), t.SessionID)
}

// mint signs an access token for the session, with the single-use grant
// just redeemed, if any. Its lifetime never passes the session's end nor a
// grant's end, so that a scope disappears from the client's tokens when
// its grant does.
func (e *Engine) mint(s *sessionRecord, singleUse *redemption) (*Tokens, error) {
	now := e.now()
	exp := now.Add(e.cfg.AccessTokenTTL).Unix()
	if s.Expires < exp {
		exp = s.Expires
	}
	scopes := make([]string, 0, len(s.Grants)+1)
	var resources []string
	for scope, end := range s.Grants {
		// Verifiers accept a token up to their leeway past exp: the token
		// carrying the scope expires that much before the grant ends.
		last := end - int64(e.cfg.Leeway/time.Second)
		if last > now.Unix() {
			scopes = append(scopes, scope)
			exp = min(exp, last)
			if r := s.Resources[scope]; r != "" {
				resources = append(resources, r)
			}
		}
	}
	var grants map[string]string
	var details []GrantDetails
	if singleUse != nil {
		grants = map[string]string{singleUse.scope: singleUse.grantID}
		if !slices.Contains(scopes, singleUse.scope) {
			scopes = append(scopes, singleUse.scope)
		}
		exp = min(exp, singleUse.end)
		details = []GrantDetails{NewGrantDetails(singleUse.scope, singleUse.metadata)}
		if r := singleUse.metadata[ResourceMetadataKey]; r != "" {
			resources = append(resources, r)
		}
	}
	sort.Strings(scopes)
	claims := accessClaims{
		Iss: e.cfg.Issuer, Sub: s.UserID, Aud: e.audience(resources), Exp: exp, Iat: now.Unix(), Nbf: now.Unix(),
		Jti: newID(prefixToken), Sid: s.ID, Scope: strings.Join(scopes, " "), Grant: grants,
		AuthTime: s.Auth.At, ACR: s.Auth.ACR, AMR: s.Auth.AMR, AuthorizationDetails: details,
	}
	if claims.AuthTime == 0 {
		claims.AuthTime = s.Created // a session stored before events were recorded
	}
	tok, err := e.cfg.Signer.Sign(AccessTokenType, claims)
	if err != nil {
		return nil, unavailable(err)
	}
	return &Tokens{AccessToken: tok, ExpiresAt: time.Unix(exp, 0), RefreshToken: e.refreshToken(s, s.Gen),
		RefreshExpiresAt: time.Unix(s.Expires, 0), SessionID: s.ID, UserID: s.UserID}, nil
}

// RefreshRequest is a /refresh call.
type RefreshRequest struct {
	RefreshToken string
	Proof        *dpop.Proof // required: the session's key
	StepUpToken  string      // a completed challenge token, to receive its grant
	Client       ClientInfo
}

// Refresh rotates the refresh token and mints a new access token. Only the
// current refresh token rotates; the one it replaced may be re-sent until
// RefreshGrace has passed since (the SDK re-sends a request that timed
// out), which retires the undelivered answer. Any other retired token
// revokes the session. Each DPoP proof is used once (sessionRecord.Proofs).
func (e *Engine) Refresh(ctx context.Context, req RefreshRequest) (*Tokens, error) {
	if req.Proof == nil {
		return nil, ErrMissingDPoP
	}
	sid, gen, secret, ok := splitRefreshToken(req.RefreshToken)
	if !ok {
		return nil, ErrUnauthorized
	}
	// A completed challenge to redeem is verified once; its user and
	// session are checked against the session read beside it.
	var ref *challengeRef
	var refErr error // answered after the session's own checks
	if req.StepUpToken != "" {
		ref, refErr = e.verifyChallenge(ctx, req.StepUpToken, nil)
	}
	var redeemed *redemption
	for attempt := 0; attempt < 4; attempt++ {
		// One batch reads the session and, until it is redeemed, the
		// challenge; another writes the redemption and the rotation.
		sessionRead := store.GetOp(sessionKey(sid))
		reads := []*store.Op{sessionRead}
		var challengeRead *store.Op
		if ref != nil && redeemed == nil {
			challengeRead = store.GetOp(challengeKey(ref.id))
			reads = append(reads, challengeRead)
		}
		store.Do(ctx, e.cfg.Store, reads...)
		s, raw, err := e.liveSessionOf(sessionRead)
		if err != nil {
			return nil, err
		}
		next, err := e.rotate(ctx, s, gen, secret, req.Proof)
		if err != nil {
			return nil, err
		}
		if refErr != nil {
			return nil, refErr
		}
		// The challenge is redeemed once, even when a concurrent refresh
		// makes this loop run again.
		var plan *redemptionPlan
		rd := redeemed
		if challengeRead != nil {
			by := sid + "." + strconv.Itoa(gen) + "." + req.Proof.Thumbprint
			if plan, err = e.planRedemption(ctx, next, ref, challengeRead, req.Proof, by, s.Gen == gen); err != nil {
				return nil, err
			}
			rd = plan.rd
		}
		singleUse := rd.apply(next)
		if ua := truncate(req.Client.UserAgent, 256); ua != "" {
			next.UserAgent = ua
		}
		if req.Client.DeviceID != "" {
			next.DeviceID = req.Client.DeviceID
		}
		ttl := remaining(s.Expires, e.now(), e.cfg.RefreshTokenTTL)
		nextRaw := mustJSON(next)
		rotation := store.SwapOp(sessionKey(sid), raw, nextRaw, ttl)
		var writes []*store.Op
		if plan != nil {
			writes = plan.writes()
		}
		store.Do(ctx, e.cfg.Store, append(writes, rotation)...)
		if plan != nil {
			if undo, failed := plan.failure(); failed != nil {
				if rotation.Err == nil {
					undo = append(undo, store.SwapOp(sessionKey(sid), nextRaw, raw, ttl))
				}
				store.Do(ctx, e.cfg.Store, undo...)
				return nil, failed
			}
			redeemed = plan.rd
		}
		switch err := rotation.Err; {
		case errors.Is(err, store.ErrConflict):
			continue // a concurrent refresh won: read again
		case errors.Is(err, store.ErrNotFound):
			return nil, ErrUnauthorized
		case err != nil:
			return nil, storeErr(err)
		}
		e.emit(Event{Name: EventRefreshRotated, UserID: next.UserID, SessionID: next.ID, ClientIP: req.Client.IP})
		if redeemed != nil {
			mode := GrantSessionBound
			if redeemed.grantID != "" {
				mode = GrantSingleUse
			}
			e.emit(Event{Name: EventStepUpGranted, UserID: next.UserID, SessionID: next.ID, Scope: e.scopeLabel(redeemed.scope),
				GrantMode: mode, ClientIP: req.Client.IP})
		}
		return e.mint(next, singleUse)
	}
	return nil, unavailable(errors.New("session keeps changing"))
}

// liveSession loads an unexpired session.
func (e *Engine) liveSession(ctx context.Context, sid string) (*sessionRecord, []byte, error) {
	read := store.GetOp(sessionKey(sid))
	store.Do(ctx, e.cfg.Store, read)
	return e.liveSessionOf(read)
}

// liveSessionOf is the unexpired session a batch's GET read.
func (e *Engine) liveSessionOf(read *store.Op) (*sessionRecord, []byte, error) {
	var s sessionRecord
	raw, err := read.Result, e.decode(read, &s)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrUnauthorized
		}
		return nil, nil, err
	}
	if e.now().Unix() >= s.Expires {
		return nil, nil, ErrUnauthorized
	}
	return &s, raw, nil
}

// rotate checks a refresh of s with the token of generation gen and the
// proof, and returns the session's next state: the next generation, the
// proof recorded. A retired token ends the session.
func (e *Engine) rotate(ctx context.Context, s *sessionRecord, gen int, secret string, proof *dpop.Proof) (*sessionRecord, error) {
	if !e.genuineRefresh(s, gen, secret) {
		return nil, ErrUnauthorized
	}
	if s.JKT != proof.Thumbprint {
		return nil, ErrDPoPKeyMismatch
	}
	now := e.now()
	next := *s
	proofs, err := recordProof(s.Proofs, proof.ID, now)
	if err != nil {
		return nil, err
	}
	next.Proofs = proofs
	switch {
	case gen == s.Gen:
		next.RetryGen, next.RetryUntil = gen, now.Add(e.cfg.RefreshGrace).UnixMilli()
	case gen == s.RetryGen && now.UnixMilli() <= s.RetryUntil:
		// A retry of a refresh whose answer was lost: the answer (s.Gen) is
		// retired unseen, and a new one issued.
	default:
		// A retired token again: a copy is in other hands. End it.
		e.emit(Event{Name: EventRefreshReuse, UserID: s.UserID, SessionID: s.ID, Outcome: "session_revoked"})
		if err := e.endSessionFor(ctx, s, "reuse"); err != nil {
			return nil, err
		}
		e.sessionRevoked(s, "reuse")
		return nil, ErrUnauthorized
	}
	next.Gen = s.Gen + 1
	next.Grants = liveGrants(s.Grants, now)
	next.LastSeen = now.Unix()
	return &next, nil
}

// recordProof adds a proof's jti to those the session used within their
// window, refusing one used before and a session refreshing too often.
func recordProof(used []usedProof, jti string, now time.Time) ([]usedProof, error) {
	live := liveProofs(used, now)
	for _, p := range live {
		if p.ID == jti {
			return nil, ErrInvalidDPoP
		}
	}
	if len(live) >= maxLiveProofs {
		return nil, ErrRateLimited
	}
	return append(live, usedProof{ID: jti, Until: now.Add(proofMemory).UnixMilli()}), nil
}

// Revoke ends the session of a refresh token (logout): the current one,
// or its predecessor within the retry window. Sessions are bound to a DPoP
// key, and ending one takes a proof of that key, as refreshing it does: a
// refresh token alone (a copy in a log, a stolen cookie) ends nothing.
func (e *Engine) Revoke(ctx context.Context, refreshToken string, proof *dpop.Proof) error {
	return e.revoke(ctx, refreshToken, proof, "logout")
}

// revoke ends the session of a refresh token, for reason.
func (e *Engine) revoke(ctx context.Context, refreshToken string, proof *dpop.Proof, reason string) error {
	if proof == nil {
		return ErrMissingDPoP
	}
	sid, gen, secret, ok := splitRefreshToken(refreshToken)
	if !ok {
		return ErrUnauthorized
	}
	var s sessionRecord
	if _, err := e.load(ctx, sessionKey(sid), &s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnauthorized
		}
		return err
	}
	if !e.genuineRefresh(&s, gen, secret) {
		return ErrUnauthorized
	}
	if proof.Thumbprint != s.JKT {
		return ErrDPoPKeyMismatch
	}
	if gen != s.Gen && !(gen == s.RetryGen && e.now().UnixMilli() <= s.RetryUntil) {
		return ErrUnauthorized
	}
	if err := e.endSessionFor(ctx, &s, reason); err != nil {
		return err
	}
	e.emit(Event{Name: EventSessionRevoked, UserID: s.UserID, SessionID: s.ID, Reason: reason})
	e.sessionRevoked(&s, reason)
	return nil
}

// refreshToken is the session's refresh token of generation gen.
func (e *Engine) refreshToken(s *sessionRecord, gen int) string {
	return s.ID + "." + itoa(gen) + "." + e.refreshSecret(s, gen)
}

func (e *Engine) refreshSecret(s *sessionRecord, gen int) string {
	mac := hmac.New(sha256.New, e.refreshKey)
	mac.Write([]byte(s.ID + "." + itoa(gen) + "." + s.Nonce))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// genuineRefresh reports whether secret is the session's refresh secret
// of a generation it issued (retired or not).
func (e *Engine) genuineRefresh(s *sessionRecord, gen int, secret string) bool {
	if gen < 1 || gen > s.Gen || s.Nonce == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(e.refreshSecret(s, gen)), []byte(secret)) == 1
}

func (e *Engine) endSession(ctx context.Context, s *sessionRecord) error {
	if err := e.cfg.Store.Delete(ctx, sessionKey(s.ID)); err != nil {
		return storeErr(err)
	}
	return storeErr(e.cfg.Store.RemoveMember(ctx, userSessionsKey(s.UserID), s.ID))
}

func liveGrants(grants map[string]int64, now time.Time) map[string]int64 {
	var out map[string]int64
	for scope, end := range grants {
		if end > now.Unix() {
			if out == nil {
				out = make(map[string]int64, len(grants))
			}
			out[scope] = end
		}
	}
	return out
}

// splitRefreshToken parses "<session id>.<generation>.<secret>".
func splitRefreshToken(tok string) (sid string, gen int, secret string, ok bool) {
	sid, rest, ok := strings.Cut(tok, ".")
	if !ok || !validID(prefixSession, sid) {
		return "", 0, "", false
	}
	genText, secret, ok := strings.Cut(rest, ".")
	if !ok || len(secret) != 43 || len(genText) == 0 || len(genText) > 9 || genText[0] == '0' {
		return "", 0, "", false
	}
	gen, err := strconv.Atoi(genText)
	if err != nil || gen < 1 {
		return "", 0, "", false
	}
	return sid, gen, secret, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
