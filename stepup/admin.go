package stepup

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// What an operator can do to users through the admin API: list and end
// their sessions, revoke their grants, look at a challenge. Everything goes
// through the store, so every instance sharing it sees the result at once.

// ErrNotFound is an unknown user, session or challenge at the admin API.
var ErrNotFound = newError(KindNotFound, "not_found", "No such user, session or challenge.")

// AdminSessions lists a user's live sessions, newest first.
func (e *Engine) AdminSessions(ctx context.Context, userID string) ([]SessionInfo, error) {
	if !validID(prefixUser, userID) {
		return nil, ErrNotFound
	}
	sessions, _, err := e.ListSessions(ctx, userID, 100, 0)
	return sessions, err
}

// AdminRevokeSessions ends one session of a user, or all of them
// (sessionID ""). Their refresh tokens stop working on every instance,
// and their access tokens too (Config.Revocations).
func (e *Engine) AdminRevokeSessions(ctx context.Context, userID, sessionID string) (int, error) {
	if !validID(prefixUser, userID) || (sessionID != "" && !validID(prefixSession, sessionID)) {
		return 0, ErrNotFound
	}
	n, err := e.endUserSessions(ctx, userID, sessionID, "admin")
	if err == nil && sessionID != "" && n == 0 {
		return 0, ErrNotFound
	}
	return n, err
}

// endUserSessions ends one session of a user, or all of them (sessionID
// ""), for reason.
func (e *Engine) endUserSessions(ctx context.Context, userID, sessionID, reason string) (int, error) {
	sessions, err := e.userSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range sessions {
		s := &sessions[i]
		if sessionID != "" && s.ID != sessionID {
			continue
		}
		if err := e.endSessionFor(ctx, s, reason); err != nil {
			return n, err
		}
		n++
		e.emit(Event{Name: EventSessionRevoked, UserID: s.UserID, SessionID: s.ID, Reason: reason})
		e.sessionRevoked(s, reason)
	}
	return n, nil
}

// AdminRevokeGrants revokes a user's grants: the open single-use ones are
// deleted, and the session-bound ones leave the sessions (the next refresh
// mints tokens without them).
func (e *Engine) AdminRevokeGrants(ctx context.Context, userID string) (int, error) {
	if !validID(prefixUser, userID) {
		return 0, ErrNotFound
	}
	return e.revokeUserGrants(ctx, userID, "admin")
}

// revokeUserGrants revokes a user's grants for reason.
func (e *Engine) revokeUserGrants(ctx context.Context, userID, reason string) (int, error) {
	keys, err := e.cfg.Store.Members(ctx, userGrantsKey(userID))
	if err != nil {
		return 0, storeErr(err)
	}
	n := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, "grt:{") {
			continue
		}
		if err := e.cfg.Store.Delete(ctx, k); err != nil {
			return n, storeErr(err)
		}
		n++
	}
	if err := e.cfg.Store.Delete(ctx, userGrantsKey(userID)); err != nil {
		return n, storeErr(err)
	}
	sessions, err := e.userSessions(ctx, userID)
	if err != nil {
		return n, err
	}
	for i := range sessions {
		m, err := e.dropSessionGrants(ctx, sessions[i].ID)
		if err != nil {
			return n, err
		}
		n += m
	}
	if n > 0 {
		e.emit(Event{Name: EventGrantRevoked, UserID: userID, Reason: reason})
	}
	return n, nil
}

// dropSessionGrants removes a session's session-bound grants.
func (e *Engine) dropSessionGrants(ctx context.Context, sid string) (int, error) {
	for attempt := 0; attempt < 4; attempt++ {
		s, raw, err := e.liveSession(ctx, sid)
		if err != nil {
			if err == ErrUnauthorized {
				return 0, nil // ended meanwhile
			}
			return 0, err
		}
		if len(s.Grants) == 0 {
			return 0, nil
		}
		n := len(s.Grants)
		next := *s
		next.Grants = nil
		err = e.cfg.Store.Swap(ctx, sessionKey(sid), raw, mustJSON(next), remaining(s.Expires, e.now(), e.cfg.RefreshTokenTTL))
		switch {
		case errors.Is(err, store.ErrConflict):
			continue
		case errors.Is(err, store.ErrNotFound):
			return 0, nil
		case err != nil:
			return 0, storeErr(err)
		}
		return n, nil
	}
	return 0, unavailable(errors.New("session keeps changing"))
}

// ChallengeView is what the admin API shows of a challenge: never a code
// or its digest.
type ChallengeView struct {
	ID          string       `json:"id"`
	UserID      string       `json:"user_id"`
	SessionID   string       `json:"session_id"`
	Scope       string       `json:"scope"`
	CurrentStep string       `json:"current_step"`
	Steps       []StepView   `json:"steps"`
	GrantMode   string       `json:"grant_mode"`
	GrantedFor  int          `json:"granted_for"`
	Redeemed    bool         `json:"redeemed"`
	Expires     time.Time    `json:"expires_at"`
	Identifiers []Identifier `json:"-"`
}

// StepView is one step of a ChallengeView.
type StepView struct {
	Key  string `json:"key"`
	Done bool   `json:"done"`
}

// AdminChallenge shows a challenge's state.
func (e *Engine) AdminChallenge(ctx context.Context, id string) (*ChallengeView, error) {
	if !validID(prefixChallenge, id) {
		return nil, ErrNotFound
	}
	var c challengeRecord
	if _, err := e.load(ctx, challengeKey(id), &c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	v := &ChallengeView{ID: c.ID, UserID: c.UserID, SessionID: c.SessionID, Scope: c.Scope, CurrentStep: c.currentKey(),
		GrantMode: c.GrantMode, GrantedFor: c.GrantedFor, Redeemed: c.Redeemed, Expires: time.Unix(c.Expires, 0).UTC()}
	for i, st := range c.Steps {
		v.Steps = append(v.Steps, StepView{Key: st.Key, Done: i < c.Current})
	}
	return v, nil
}
