package stepup

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// AccessTokenType is the `typ` of access tokens (RFC 9068).
const AccessTokenType = "at+jwt"

// recentProofs is how many DPoP proof IDs a session remembers to refuse
// replays on /refresh without a store round trip of its own.
const recentProofs = 16

// sessionRecord is a session: its owner, the DPoP key it is bound to, and
// the hash of its current refresh token (and, briefly, of the previous one).
type sessionRecord struct {
	V           int              `json:"v"`
	ID          string           `json:"id"`
	UserID      string           `json:"user_id"`
	JKT         string           `json:"jkt"`
	RefreshHash string           `json:"refresh_hash"`
	PrevHash    string           `json:"prev_hash,omitempty"`
	PrevUntil   int64            `json:"prev_until,omitempty"` // Unix ms: a retry may still present PrevHash
	Created     int64            `json:"created"`              // Unix s
	LastSeen    int64            `json:"last_seen"`
	Expires     int64            `json:"expires"`
	UserAgent   string           `json:"user_agent,omitempty"`
	ProofIDs    []string         `json:"proof_ids,omitempty"`
	Grants      map[string]int64 `json:"grants,omitempty"` // session-bound scope → Unix s end
}

// Tokens is what a login or refresh returns to the client.
type Tokens struct {
	AccessToken      string
	ExpiresAt        time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	SessionID        string
	UserID           string
}

// accessClaims are the claims of the access tokens the gateway mints.
type accessClaims struct {
	Iss   string            `json:"iss"`
	Sub   string            `json:"sub"`
	Aud   string            `json:"aud"`
	Exp   int64             `json:"exp"`
	Iat   int64             `json:"iat"`
	Nbf   int64             `json:"nbf"`
	Jti   string            `json:"jti"`
	Sid   string            `json:"sid"`
	Scope string            `json:"scope"`
	Grant map[string]string `json:"grt,omitempty"` // single-use scope → grant ID
}

// createSession starts a session bound to the DPoP key jkt.
func (e *Engine) createSession(ctx context.Context, u *userRecord, jkt string, client ClientInfo) (*Tokens, error) {
	now := e.now()
	secret := newSecret()
	s := sessionRecord{
		V: recordVersion, ID: newID(prefixSession), UserID: u.ID, JKT: jkt, RefreshHash: hashSecret(secret),
		Created: now.Unix(), LastSeen: now.Unix(), Expires: now.Add(e.cfg.RefreshTokenTTL).Unix(),
		UserAgent: truncate(client.UserAgent, 256),
	}
	if err := e.cfg.Store.Create(ctx, sessionKey(s.ID), mustJSON(s), e.cfg.RefreshTokenTTL); err != nil {
		return nil, storeErr(err)
	}
	if err := e.cfg.Store.AddMember(ctx, userSessionsKey(u.ID), s.ID, e.cfg.RefreshTokenTTL); err != nil {
		return nil, storeErr(err)
	}
	return e.mint(&s, secret, nil)
}

// mint signs an access token for the session, with the single-use grant
// just redeemed, if any. Its lifetime never passes the session's end nor a
// grant's end, so that a scope disappears from the client's tokens when
// its grant does.
func (e *Engine) mint(s *sessionRecord, refreshSecret string, singleUse *redemption) (*Tokens, error) {
	now := e.now()
	exp := now.Add(e.cfg.AccessTokenTTL).Unix()
	if s.Expires < exp {
		exp = s.Expires
	}
	scopes := make([]string, 0, len(s.Grants)+1)
	for scope, end := range s.Grants {
		if end > now.Unix() {
			scopes = append(scopes, scope)
			if end < exp {
				exp = end
			}
		}
	}
	var grants map[string]string
	if singleUse != nil {
		grants = map[string]string{singleUse.scope: singleUse.grantID}
		if !containsString(scopes, singleUse.scope) {
			scopes = append(scopes, singleUse.scope)
		}
		exp = min(exp, singleUse.end)
	}
	sort.Strings(scopes)
	claims := accessClaims{
		Iss: e.cfg.Issuer, Sub: s.UserID, Aud: e.cfg.Audience, Exp: exp, Iat: now.Unix(), Nbf: now.Unix(),
		Jti: newID(prefixToken), Sid: s.ID, Scope: strings.Join(scopes, " "), Grant: grants,
	}
	tok, err := e.cfg.Signer.Sign(AccessTokenType, claims)
	if err != nil {
		return nil, unavailable(err)
	}
	return &Tokens{AccessToken: tok, ExpiresAt: time.Unix(exp, 0), RefreshToken: s.ID + "." + refreshSecret,
		RefreshExpiresAt: time.Unix(s.Expires, 0), SessionID: s.ID, UserID: s.UserID}, nil
}

// RefreshRequest is a /refresh call.
type RefreshRequest struct {
	RefreshToken string
	Proof        *dpop.Proof // required: the session's key
	StepUpToken  string      // a completed challenge token, to receive its grant
	Client       ClientInfo
}

// Refresh rotates the refresh token and mints a new access token. A
// refresh token that was already rotated revokes the session, unless it is
// presented again within the grace period (the SDK re-sends a request that
// timed out).
func (e *Engine) Refresh(ctx context.Context, req RefreshRequest) (*Tokens, error) {
	if req.Proof == nil {
		return nil, ErrMissingDPoP
	}
	sid, secret, ok := splitRefreshToken(req.RefreshToken)
	if !ok {
		return nil, ErrUnauthorized
	}
	var redeemed *redemption
	for attempt := 0; attempt < 4; attempt++ {
		var s sessionRecord
		raw, err := e.load(ctx, sessionKey(sid), &s)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, ErrUnauthorized
			}
			return nil, err
		}
		now := e.now()
		if now.Unix() >= s.Expires {
			return nil, ErrUnauthorized
		}
		if s.JKT != req.Proof.Thumbprint {
			return nil, ErrDPoPKeyMismatch
		}
		if containsString(s.ProofIDs, req.Proof.ID) {
			return nil, ErrInvalidDPoP
		}
		presented := hashSecret(secret)
		next := s
		switch {
		case equalHash(presented, s.RefreshHash):
			next.PrevHash = s.RefreshHash
			next.PrevUntil = now.Add(e.cfg.RefreshGrace).UnixMilli()
		case s.PrevHash != "" && equalHash(presented, s.PrevHash) && now.UnixMilli() <= s.PrevUntil:
			// A retry of a refresh whose answer was lost: rotate again.
		case s.PrevHash != "" && equalHash(presented, s.PrevHash):
			// Reuse of a rotated token: someone else has a copy. End it.
			e.log.Warn("rotated refresh token reused: session revoked")
			if err := e.endSession(ctx, &s); err != nil {
				return nil, err
			}
			return nil, ErrUnauthorized
		default:
			return nil, ErrUnauthorized
		}
		next.Grants = liveGrants(s.Grants, now)
		// The challenge is redeemed once, even when a concurrent refresh
		// makes this loop run again.
		if req.StepUpToken != "" && redeemed == nil {
			if redeemed, err = e.redeemChallenge(ctx, &next, req.StepUpToken, req.Proof); err != nil {
				return nil, err
			}
		}
		singleUse := redeemed.apply(&next)
		newSecretText := newSecret()
		next.RefreshHash = hashSecret(newSecretText)
		next.LastSeen = now.Unix()
		next.ProofIDs = append(append([]string(nil), s.ProofIDs...), req.Proof.ID)
		if len(next.ProofIDs) > recentProofs {
			next.ProofIDs = next.ProofIDs[len(next.ProofIDs)-recentProofs:]
		}
		if ua := truncate(req.Client.UserAgent, 256); ua != "" {
			next.UserAgent = ua
		}
		ttl := time.Unix(s.Expires, 0).Sub(now)
		err = e.cfg.Store.Swap(ctx, sessionKey(sid), raw, mustJSON(next), ttl)
		if errors.Is(err, store.ErrConflict) {
			continue // a concurrent refresh won: read again
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnauthorized
		}
		if err != nil {
			return nil, storeErr(err)
		}
		return e.mint(&next, newSecretText, singleUse)
	}
	return nil, unavailable(errors.New("session keeps changing"))
}

// Revoke ends the session of a refresh token (logout). A DPoP proof, when
// the client has one, must be from the session's key.
func (e *Engine) Revoke(ctx context.Context, refreshToken string, proof *dpop.Proof) error {
	sid, secret, ok := splitRefreshToken(refreshToken)
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
	if proof != nil && proof.Thumbprint != s.JKT {
		return ErrDPoPKeyMismatch
	}
	presented := hashSecret(secret)
	if !equalHash(presented, s.RefreshHash) && !(s.PrevHash != "" && equalHash(presented, s.PrevHash) && e.now().UnixMilli() <= s.PrevUntil) {
		return ErrUnauthorized
	}
	return e.endSession(ctx, &s)
}

func (e *Engine) endSession(ctx context.Context, s *sessionRecord) error {
	if err := e.cfg.Store.Delete(ctx, sessionKey(s.ID)); err != nil {
		return storeErr(err)
	}
	return storeErr(e.cfg.Store.RemoveMember(ctx, userSessionsKey(s.UserID), s.ID))
}

// SessionInfo is one entry of the session list.
type SessionInfo struct {
	ID         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// ListSessions lists a user's live sessions, newest first.
func (e *Engine) ListSessions(ctx context.Context, userID string, limit, offset int) ([]SessionInfo, int, error) {
	if limit < 1 || limit > 100 {
		return nil, 0, ErrInvalidPagination
	}
	if offset < 0 {
		return nil, 0, ErrInvalidOffset
	}
	sessions, err := e.userSessions(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(sessions, func(i, j int) bool { return sessions[i].Created > sessions[j].Created })
	total := len(sessions)
	if offset > total {
		offset = total
	}
	end := min(offset+limit, total)
	out := make([]SessionInfo, 0, end-offset)
	for _, s := range sessions[offset:end] {
		out = append(out, SessionInfo{ID: s.ID, UserAgent: s.UserAgent, CreatedAt: time.Unix(s.Created, 0),
			LastSeenAt: time.Unix(s.LastSeen, 0), ExpiresAt: time.Unix(s.Expires, 0)})
	}
	return out, total, nil
}

// userSessions loads a user's live sessions, forgetting the expired ones.
func (e *Engine) userSessions(ctx context.Context, userID string) ([]sessionRecord, error) {
	if !validID(prefixUser, userID) {
		return nil, ErrUnauthorized
	}
	ids, err := e.cfg.Store.Members(ctx, userSessionsKey(userID))
	if err != nil {
		return nil, storeErr(err)
	}
	var out []sessionRecord
	for _, id := range ids {
		var s sessionRecord
		if _, err := e.load(ctx, sessionKey(id), &s); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				if err := e.cfg.Store.RemoveMember(ctx, userSessionsKey(userID), id); err != nil {
					return nil, storeErr(err)
				}
				continue
			}
			return nil, err
		}
		if s.UserID == userID {
			out = append(out, s)
		}
	}
	return out, nil
}

// Revocation targets of /me/revoke.
const (
	RevokeAll     = "all"     // every session of the user
	RevokeOthers  = "others"  // every session but the caller's
	RevokeMine    = "mine"    // the caller's session
	RevokeSession = "session" // one session by ID
)

// RevokeSessions ends sessions of the caller's user.
func (e *Engine) RevokeSessions(ctx context.Context, userID, currentSID, target, sessionID string) error {
	switch target {
	case RevokeAll, RevokeOthers, RevokeMine:
	case RevokeSession:
		if !validID(prefixSession, sessionID) {
			return ErrSessionNotFound
		}
	default:
		return ErrBadRequest
	}
	sessions, err := e.userSessions(ctx, userID)
	if err != nil {
		return err
	}
	found := false
	for i := range sessions {
		s := &sessions[i]
		end := target == RevokeAll ||
			(target == RevokeOthers && s.ID != currentSID) ||
			(target == RevokeMine && s.ID == currentSID) ||
			(target == RevokeSession && s.ID == sessionID)
		if !end {
			continue
		}
		found = true
		if err := e.endSession(ctx, s); err != nil {
			return err
		}
	}
	if target == RevokeSession && !found {
		return ErrSessionNotFound
	}
	return nil
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

// splitRefreshToken parses "<session id>.<secret>".
func splitRefreshToken(tok string) (sid, secret string, ok bool) {
	sid, secret, ok = strings.Cut(tok, ".")
	if !ok || !validID(prefixSession, sid) || len(secret) != 43 {
		return "", "", false
	}
	return sid, secret, true
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func equalHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
