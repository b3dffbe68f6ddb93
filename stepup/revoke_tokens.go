package stepup

import (
	"context"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
)

// Revoker records revocations that every instance enforces at once
// (*revocation.List has it).
type Revoker interface {
	Revoke(ctx context.Context, e revocation.Entry) error
}

// revokeSessionTokens refuses, at every instance, the access tokens minted
// for session s: its sid is revoked until the longest of them has expired
// (a token minted now lives AccessTokenTTL, exp rounded down to the
// second, and verifiers accept it for Leeway more). It runs before the
// session is ended, so that a session is never over while its tokens still
// pass: when it fails, the session stays and the caller gets 503.
func (e *Engine) revokeSessionTokens(ctx context.Context, s *sessionRecord, reason string) error {
	if e.cfg.Revocations == nil {
		return nil
	}
	now := e.now()
	err := e.cfg.Revocations.Revoke(ctx, revocation.Entry{
		Kind: revocation.Session, Issuer: e.cfg.Issuer, Value: s.ID, At: now, Reason: reason,
		Until: now.Add(e.cfg.AccessTokenTTL + e.cfg.Leeway + time.Second),
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// endSessionFor revokes the session's access tokens, then ends it.
func (e *Engine) endSessionFor(ctx context.Context, s *sessionRecord, reason string) error {
	if err := e.revokeSessionTokens(ctx, s, reason); err != nil {
		return err
	}
	return e.endSession(ctx, s)
}
