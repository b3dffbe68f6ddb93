package caddystepup

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/signals"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// What an accepted SET does: its decision applied to the gateway's
// sessions and grants (the engine) and to the tokens `stepup` accepts
// (the revocation list). Every action is idempotent, so a SET applied in
// part and retried by its transmitter ends the same.

// signalEffect counts what one SET did, for the audit log.
type signalEffect struct {
	sessionsEnded int
	revocations   int
	grantsDropped int
	unmatched     int
}

func (e signalEffect) String() string {
	return fmt.Sprintf("sessions_ended=%d revocations=%d grants_dropped_users=%d unmatched=%d",
		e.sessionsEnded, e.revocations, e.grantsDropped, e.unmatched)
}

// signalApplier applies one decision with one runtime.
type signalApplier struct {
	h      *SignalsHandler
	rt     *appRuntime
	engine *stepup.Engine
	// gateway is the gateway's own issuer ("" when it mints no tokens).
	gateway string
	now     time.Time
	reason  string
	effect  signalEffect
}

func (h *SignalsHandler) apply(ctx context.Context, rt *appRuntime, receiver *signals.Receiver, a *signals.Accepted) (signalEffect, error) {
	d := a.Decision
	ap := &signalApplier{h: h, rt: rt, engine: rt.engine, gateway: h.app.Issuer, now: rt.now(), reason: "signal:" + d.Name}
	var err error
	switch d.Action {
	case signals.ActionVerification, signals.ActionStreamUpdated:
		_, err = receiver.RecordStream(ctx, a)
	case signals.ActionRevokeAccess:
		err = ap.revokeAccess(ctx, d.Targets)
	case signals.ActionEndSessions:
		err = ap.forEachUser(ctx, d.Targets.Users, ap.endSessions)
	case signals.ActionDropStepUps:
		err = ap.forEachUser(ctx, d.Targets.Users, ap.dropStepUps)
	}
	return ap.effect, err
}

// revokeAccess refuses the targets' tokens and ends their gateway
// sessions.
func (ap *signalApplier) revokeAccess(ctx context.Context, t signals.Targets) error {
	if err := ap.forEachUser(ctx, t.Users, func(ctx context.Context, u signals.UserRef, userID string) error {
		if u.Issuer != "" && u.Issuer != ap.gateway {
			// A trusted issuer's subject: its tokens issued until now.
			if err := ap.revoke(ctx, revocation.Subject, u.Issuer, u.Subject); err != nil {
				return err
			}
		}
		if userID == "" {
			return nil
		}
		if err := ap.revoke(ctx, revocation.Subject, ap.gateway, userID); err != nil {
			return err
		}
		return ap.endSessions(ctx, u, userID)
	}); err != nil {
		return err
	}
	for _, s := range t.Sessions {
		if err := ap.revoke(ctx, revocation.Session, s.Issuer, s.SID); err != nil {
			return err
		}
		if s.Issuer == ap.gateway && ap.engine != nil {
			owner, err := ap.engine.SignalEndSession(ctx, s.SID)
			if err != nil {
				return err
			}
			if owner != "" {
				ap.effect.sessionsEnded++
			}
		}
	}
	for _, tok := range t.Tokens {
		if err := ap.revoke(ctx, revocation.Token, tok.Issuer, tok.JTI); err != nil {
			return err
		}
	}
	return nil
}

// endSessions ends a gateway user's sessions.
func (ap *signalApplier) endSessions(ctx context.Context, _ signals.UserRef, userID string) error {
	if userID == "" {
		return nil
	}
	n, err := ap.engine.SignalEndSessions(ctx, userID)
	ap.effect.sessionsEnded += n
	return err
}

// dropStepUps revokes a gateway user's grants and refuses the tokens
// minted until now, which may carry session-bound scopes: the next
// refresh mints tokens without them. A trusted issuer's subject has no
// gateway grants; its tokens issued until now are refused, so that its
// client fetches tokens of the lower level.
func (ap *signalApplier) dropStepUps(ctx context.Context, u signals.UserRef, userID string) error {
	if u.Issuer != "" && u.Issuer != ap.gateway {
		if err := ap.revoke(ctx, revocation.Subject, u.Issuer, u.Subject); err != nil {
			return err
		}
	}
	if userID == "" {
		return nil
	}
	if _, err := ap.engine.SignalRevokeGrants(ctx, userID); err != nil {
		return err
	}
	ap.effect.grantsDropped++
	return ap.revoke(ctx, revocation.Subject, ap.gateway, userID)
}

// forEachUser resolves each user target to the gateway user it names
// ("" when none) and calls f.
func (ap *signalApplier) forEachUser(ctx context.Context, users []signals.UserRef, f func(context.Context, signals.UserRef, string) error) error {
	for _, u := range users {
		userID, err := ap.gatewayUser(ctx, u)
		if err != nil {
			return err
		}
		if userID == "" && (u.Issuer == "" || u.Issuer == ap.gateway) {
			ap.effect.unmatched++
		}
		if err := f(ctx, u, userID); err != nil {
			return err
		}
	}
	return nil
}

// gatewayUser is the gateway user a target names: its own user ID, the
// user an address counts for, or the user an OAuth login linked to the
// issuer's subject. "" when none, or when the gateway has no engine.
func (ap *signalApplier) gatewayUser(ctx context.Context, u signals.UserRef) (string, error) {
	if ap.engine == nil {
		return "", nil
	}
	switch {
	case u.Email != "":
		return ap.engine.UserByIdentifier(ctx, stepup.IdentifierEmail, u.Email)
	case u.Phone != "":
		return ap.engine.UserByIdentifier(ctx, stepup.IdentifierPhone, u.Phone)
	case u.Issuer == ap.gateway:
		return u.Subject, nil
	}
	return ap.engine.UserByProvider(ctx, u.Issuer, u.Subject)
}

// revoke records one revocation, lasting as long as a token it refuses
// can live (revocationLifetime). An issuer the gateway does not trust has
// no token `stepup` accepts: nothing to record. A value longer than any
// token's claim can be refuses no token either.
func (ap *signalApplier) revoke(ctx context.Context, kind revocation.Kind, issuer, value string) error {
	if value == "" || len(value) > revocation.MaxValueLength {
		return nil
	}
	lifetime, accepted := ap.h.app.revocationLifetime(issuer)
	if !accepted {
		return nil
	}
	e := revocation.Entry{Kind: kind, Issuer: issuer, Value: value, At: ap.now,
		Until: ap.now.Add(lifetime), Reason: ap.reason}
	if err := ap.rt.revocations.Revoke(ctx, e); err != nil {
		return err
	}
	ap.effect.revocations++
	return nil
}
