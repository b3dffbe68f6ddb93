package stepup

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

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
	if e.cfg.AccessTokens != nil {
		admit(e.cfg.AccessTokens, tok)
	}
	return &Tokens{AccessToken: tok, ExpiresAt: time.Unix(exp, 0), RefreshToken: e.refreshToken(s, s.Gen),
		RefreshExpiresAt: time.Unix(s.Expires, 0), SessionID: s.ID, UserID: s.UserID}, nil
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

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
