// A user's own sessions: the list and revocation behind /me/list and
// /me/revoke.

package stepup

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// SessionInfo is one entry of the session list.
type SessionInfo struct {
	ID         string
	UserAgent  string
	DeviceID   string // what the client said its install is (X-Device-Id)
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
		out = append(out, SessionInfo{ID: s.ID, UserAgent: s.UserAgent, DeviceID: s.DeviceID, CreatedAt: time.Unix(s.Created, 0),
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
		if err := e.endSessionFor(ctx, s, "user"); err != nil {
			return err
		}
		e.emit(Event{Name: EventSessionRevoked, UserID: s.UserID, SessionID: s.ID, Reason: "user"})
		e.sessionRevoked(s, "user")
	}
	if target == RevokeSession && !found {
		return ErrSessionNotFound
	}
	return nil
}
