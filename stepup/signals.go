package stepup

import (
	"context"
	"errors"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// What a shared signal (a CAEP or RISC event a transmitter pushed) can do
// to the gateway's users: find the user it names, end their sessions or
// one session, revoke their grants. Each is reported with the reason
// "signal" (audit log, metrics, session webhooks).

// ReasonSignal is the Reason of what a shared signal ended or revoked.
const ReasonSignal = "signal"

// UserByIdentifier is the user for whom an email address or phone number
// counts (users.go), "" when none: a signal about an address reaches only
// the user the gateway itself would send its codes to.
func (e *Engine) UserByIdentifier(ctx context.Context, typ, value string) (string, error) {
	v, ok := normalizeIdentifier(typ, value)
	if !ok {
		return "", nil
	}
	ident := Identifier{Type: typ, Value: v}
	var userID string
	if _, err := e.load(ctx, identKey(typ, v), &userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		return "", err
	}
	reaches, err := e.stillReaches(ctx, userID, ident)
	if err != nil || !reaches {
		return "", err
	}
	return userID, nil
}

// UserByProvider is the user an OpenID provider's (issuer, subject) is
// linked to by an OAuth login, "" when none.
func (e *Engine) UserByProvider(ctx context.Context, issuer, subject string) (string, error) {
	if issuer == "" || subject == "" {
		return "", nil
	}
	var userID string
	if _, err := e.load(ctx, identKey("oidc", issuer+" "+subject), &userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		return "", err
	}
	return userID, nil
}

// SignalEndSessions ends every session of a user; it reports how many.
// An ID that is not a user's is no user: 0.
func (e *Engine) SignalEndSessions(ctx context.Context, userID string) (int, error) {
	if !validID(prefixUser, userID) {
		return 0, nil
	}
	return e.endUserSessions(ctx, userID, "", ReasonSignal)
}

// SignalEndSession ends one session by its ID, whoever's it is; it
// reports the session's user ("" when there was no such session).
func (e *Engine) SignalEndSession(ctx context.Context, sessionID string) (string, error) {
	if !validID(prefixSession, sessionID) {
		return "", nil
	}
	var s sessionRecord
	if _, err := e.load(ctx, sessionKey(sessionID), &s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		return "", err
	}
	if _, err := e.endUserSessions(ctx, s.UserID, s.ID, ReasonSignal); err != nil {
		return "", err
	}
	return s.UserID, nil
}

// SignalRevokeGrants revokes a user's grants (single-use and
// session-bound), so that the next request needing one steps up again;
// it returns the IDs of the user's live sessions, whose tokens minted
// with session-bound scopes the caller refuses too.
func (e *Engine) SignalRevokeGrants(ctx context.Context, userID string) ([]string, error) {
	if !validID(prefixUser, userID) {
		return nil, nil
	}
	if _, err := e.revokeUserGrants(ctx, userID, ReasonSignal); err != nil {
		return nil, err
	}
	sessions, err := e.userSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(sessions))
	for _, s := range sessions {
		ids = append(ids, s.ID)
	}
	return ids, nil
}
