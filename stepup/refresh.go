package stepup

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Refresh and logout: the refresh token of each generation (an HMAC of the
// session's nonce, never stored), its rotation with a grace for the SDK's
// retries, the DPoP proofs each used once, and logout.

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
