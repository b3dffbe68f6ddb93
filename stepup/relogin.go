package stepup

import (
	"context"
	"errors"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

// EndPreviousSession ends the session a client still held when it logged
// in again: Prelude's mobile SDKs send its refresh token (X-Refresh-Token)
// on /login/finalize "so a re-login revokes the old session instead of
// leaving it dangling" (prelude-passkeys.md §10.3). Only with a proof of
// that session's own key, and only its current refresh token (or the one
// it replaced, within the retry window): anything else ends nothing, and
// the new login stands either way. newSessionID, the session the login
// just opened, is never ended. The end is audited as session.revoked,
// reason relogin.
func (e *Engine) EndPreviousSession(ctx context.Context, refreshToken string, proof *dpop.Proof, newSessionID string) error {
	if refreshToken == "" || proof == nil {
		return nil
	}
	sid, _, _, ok := splitRefreshToken(refreshToken)
	if !ok || sid == newSessionID {
		return nil
	}
	err := e.revoke(ctx, refreshToken, proof, "relogin")
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return nil
}
