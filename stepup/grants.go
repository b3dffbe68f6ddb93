package stepup

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Redemption of a completed challenge into its grant, and the use of
// single-use grants.

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
	scope    string
	end      int64  // Unix s
	grantID  string // single-use: the stored grant
	event    authEvent
	metadata map[string]string // approved with the step-up (its resource among them)
}

// apply records the step-up as the session's last authentication event
// and adds a session-bound grant to the session being refreshed, or
// returns the single-use grant for the access token.
func (rd *redemption) apply(s *sessionRecord) *redemption {
	if rd == nil {
		return nil
	}
	s.Auth = rd.event
	if rd.grantID != "" {
		return rd
	}
	if s.Grants == nil {
		s.Grants = map[string]int64{}
	}
	s.Grants[rd.scope] = rd.end
	delete(s.Resources, rd.scope)
	if r := rd.metadata[ResourceMetadataKey]; r != "" {
		if s.Resources == nil {
			s.Resources = map[string]string{}
		}
		s.Resources[rd.scope] = r
	}
	return nil
}

// redemptionPlan is a redemption of a completed challenge made ready to
// store: the writes that make it (none when a retry resumes one), to go
// in the batch that rotates the session, and what it grants.
type redemptionPlan struct {
	rd                 *redemption
	grant, index, swap *store.Op
	back               *store.Op // the challenge's swap undone
}

// planRedemption turns a completed challenge of session s (read beside
// the session) into its grant, once: a second redemption is
// token_reused. by names the refresh that redeems it (session, refresh
// generation, DPoP key); retry says that the session still stands at
// that generation, i.e. no rotation carrying this redemption was stored.
//
// Its writes go in order in one batch with the session's rotation: the
// single-use grant, its index, the challenge marked redeemed, the
// session. When one of the redemption's own writes fails, those that
// succeeded are undone (the session's rotation too), so that the
// challenge can be redeemed again. A failure of the session's rotation
// alone leaves a challenge redeemed by this very refresh: its retry, with
// the session unchanged, finishes the redemption with the same grant,
// which it never writes again: a grant already spent can't come back.
func (e *Engine) planRedemption(ctx context.Context, s *sessionRecord, ref *challengeRef, read *store.Op, proof *dpop.Proof,
	by string, retry bool) (*redemptionPlan, error) {
	if ref.userID != s.UserID || ref.sessionID != s.ID {
		return nil, ErrInvalidChallenge
	}
	c, raw, err := e.readChallenge(ref, read)
	if err != nil {
		return nil, err
	}
	if !c.completed() {
		return nil, ErrStepNotCompleted
	}
	if c.JKT != "" && c.JKT != proof.Thumbprint {
		return nil, ErrDPoPKeyMismatch
	}
	if c.Redeemed {
		rd, err := e.resumeRedemption(ctx, c, by, retry)
		if err != nil {
			return nil, err
		}
		return &redemptionPlan{rd: rd}, nil
	}
	ttl := remaining(c.Expires, e.now(), c.lifetime())
	if ttl <= 0 {
		return nil, ErrExpiredChallenge
	}
	end := e.now().Add(time.Duration(c.GrantedFor) * time.Second)
	p := &redemptionPlan{rd: &redemption{scope: c.Scope, end: end.Unix(), event: e.stepUpEvent(c), metadata: c.Metadata}}
	next := *c
	next.Redeemed, next.RedeemedBy, next.GrantEnd = true, by, end.Unix()
	if c.GrantMode != GrantSessionBound {
		g := grantRecord{V: recordVersion, ID: newID(prefixGrant), UserID: c.UserID, SessionID: c.SessionID, Scope: c.Scope,
			Metadata: c.Metadata, Expires: end.Unix()}
		key, lifetime := grantKey(g.ID, g.UserID, g.SessionID, g.Scope), time.Duration(c.GrantedFor)*time.Second
		// Indexed under its user, so that an operator can revoke it
		// (admin.go); the index lives as long as its longest grant.
		p.grant = store.CreateOp(key, mustJSON(g), lifetime)
		p.index = store.AddMemberOp(userGrantsKey(g.UserID), key, lifetime)
		p.rd.grantID, next.GrantID = g.ID, g.ID
	}
	nextRaw := mustJSON(next)
	p.swap = store.SwapOp(challengeKey(c.ID), raw, nextRaw, ttl)
	p.back = store.SwapOp(challengeKey(c.ID), nextRaw, raw, ttl)
	return p, nil
}

// writes are the plan's ops, in the order they must run.
func (p *redemptionPlan) writes() []*store.Op {
	var ops []*store.Op
	for _, op := range []*store.Op{p.grant, p.index, p.swap} {
		if op != nil {
			ops = append(ops, op)
		}
	}
	return ops
}

// failure returns the ops that undo the plan's writes that succeeded, and
// why they did not all succeed (nil when they did).
func (p *redemptionPlan) failure() ([]*store.Op, error) {
	var failed error
	for _, op := range p.writes() {
		if op.Err != nil {
			failed = op.Err
			break
		}
	}
	if failed == nil {
		return nil, nil
	}
	var undo []*store.Op
	if p.grant != nil && p.grant.Err == nil {
		undo = append(undo, store.DeleteOp(p.grant.Key)) // its index entry then names nothing
	}
	if p.swap != nil && p.swap.Err == nil {
		undo = append(undo, p.back)
	}
	switch {
	case p.swap != nil && errors.Is(p.swap.Err, store.ErrConflict):
		return undo, ErrTokenReused // a concurrent redemption won
	case p.swap != nil && errors.Is(p.swap.Err, store.ErrNotFound):
		return undo, ErrExpiredChallenge
	}
	return undo, storeErr(failed)
}

// resumeRedemption finishes a redemption whose refresh failed after the
// challenge was marked: only for the same refresh (by) while the session
// has not rotated since (retry), and only with the grant stored then,
// which must still be there.
func (e *Engine) resumeRedemption(ctx context.Context, c *challengeRecord, by string, retry bool) (*redemption, error) {
	if !retry || c.RedeemedBy == "" || subtle.ConstantTimeCompare([]byte(c.RedeemedBy), []byte(by)) != 1 {
		return nil, ErrTokenReused
	}
	rd := &redemption{scope: c.Scope, end: c.GrantEnd, event: e.stepUpEvent(c), metadata: c.Metadata}
	if c.GrantID != "" {
		if _, err := e.cfg.Store.Get(ctx, grantKey(c.GrantID, c.UserID, c.SessionID, c.Scope)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, ErrTokenReused
			}
			return nil, storeErr(err)
		}
		rd.grantID = c.GrantID
	}
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
	key := grantKey(grantID, userID, sessionID, scope)
	if e.spent.has(key) {
		return nil, ErrUnauthorized
	}
	raw, err := e.cfg.Store.Take(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			e.spent.add(key)
			return nil, ErrUnauthorized
		}
		return nil, storeErr(err)
	}
	e.spent.add(key)
	var g grantRecord
	if err := json.Unmarshal(raw, &g); err != nil { // a record this gateway stored
		return nil, unavailable(err)
	}
	if g.UserID != userID || g.SessionID != sessionID || g.Scope != scope || e.now().Unix() >= g.Expires {
		return nil, ErrUnauthorized // unreachable unless the key scheme changes; fail closed
	}
	e.emit(Event{Name: EventGrantConsumed, UserID: userID, SessionID: sessionID, Scope: e.scopeLabel(scope), GrantMode: GrantSingleUse})
	return &Grant{ID: g.ID, Scope: g.Scope, Metadata: g.Metadata}, nil
}
