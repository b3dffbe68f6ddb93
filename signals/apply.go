package signals

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// What an accepted SET does: its decision applied to the gateway's
// sessions and grants (the engine) and to the tokens `stepup` accepts
// (the revocation list). Every action is idempotent, so a SET applied in
// part and retried by its transmitter ends the same.

// Engine is what applying a decision needs of the gateway's engine
// (*stepup.Engine): finding the user a target names, ending sessions,
// revoking grants.
type Engine interface {
	UserByIdentifier(ctx context.Context, typ, value string) (string, error)
	UserByProvider(ctx context.Context, issuer, subject string) (string, error)
	SignalEndSessions(ctx context.Context, userID string) (int, error)
	SignalEndSession(ctx context.Context, sessionID string) (string, error)
	SignalRevokeGrants(ctx context.Context, userID string) ([]string, error)
}

// Revoker records a revocation (the revocation list, counted and
// audited).
type Revoker interface {
	Revoke(ctx context.Context, e revocation.Entry) error
}

// Effect counts what one SET did, for the audit log.
type Effect struct {
	SessionsEnded int
	Revocations   int
	GrantsDropped int
	Unmatched     int
}

func (e Effect) String() string {
	return fmt.Sprintf("sessions_ended=%d revocations=%d grants_dropped_users=%d unmatched=%d",
		e.SessionsEnded, e.Revocations, e.GrantsDropped, e.Unmatched)
}

// Gateway is what a decision is applied to: one config's engine (nil when
// the gateway has none) and revocation list, at one instant.
type Gateway struct {
	Engine      Engine
	Revocations Revoker
	// Issuer is the gateway's own issuer ("" when it mints no tokens).
	Issuer string
	// Lifetime is how long a revocation of issuer's tokens lasts; false
	// for an issuer whose tokens are not accepted.
	Lifetime func(issuer string) (time.Duration, bool)
	// Now is the gateway's clock, read once per SET applied.
	Now func() time.Time
}

// applier applies one decision.
type applier struct {
	Gateway
	now    time.Time
	reason string
	effect Effect
}

// Apply applies an accepted SET's decision to g; the receiver records
// the stream events.
func Apply(ctx context.Context, g Gateway, receiver *Receiver, a *Accepted) (Effect, error) {
	d := a.Decision
	ap := &applier{Gateway: g, now: g.Now(), reason: "signal:" + d.Name}
	var err error
	switch d.Action {
	case ActionVerification, ActionStreamUpdated:
		_, err = receiver.RecordStream(ctx, a)
	case ActionRevokeAccess:
		err = ap.revokeAccess(ctx, d.Targets)
	case ActionEndSessions:
		err = ap.forEachUser(ctx, d.Targets.Users, ap.endSessions)
	case ActionDropStepUps:
		err = ap.forEachUser(ctx, d.Targets.Users, ap.dropStepUps)
	}
	return ap.effect, err
}

// revokeAccess refuses the targets' tokens and ends their gateway
// sessions.
func (ap *applier) revokeAccess(ctx context.Context, t Targets) error {
	if err := ap.forEachUser(ctx, t.Users, func(ctx context.Context, u UserRef, userID string) error {
		if u.Issuer != "" && u.Issuer != ap.Issuer {
			// A trusted issuer's subject: its tokens issued until now.
			if err := ap.revoke(ctx, revocation.Subject, u.Issuer, u.Subject); err != nil {
				return err
			}
		}
		if userID == "" {
			return nil
		}
		if err := ap.revoke(ctx, revocation.Subject, ap.Issuer, userID); err != nil {
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
		if s.Issuer == ap.Issuer && ap.Engine != nil {
			owner, err := ap.Engine.SignalEndSession(ctx, s.SID)
			if err != nil {
				return err
			}
			if owner != "" {
				ap.effect.SessionsEnded++
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
func (ap *applier) endSessions(ctx context.Context, _ UserRef, userID string) error {
	if userID == "" {
		return nil
	}
	n, err := ap.Engine.SignalEndSessions(ctx, userID)
	ap.effect.SessionsEnded += n
	return err
}

// dropStepUps revokes a gateway user's grants and refuses the tokens
// minted until now, which may carry session-bound scopes: the next
// refresh mints tokens without them. A trusted issuer's subject has no
// gateway grants; its tokens issued until now are refused, so that its
// client fetches tokens of the lower level.
func (ap *applier) dropStepUps(ctx context.Context, u UserRef, userID string) error {
	if u.Issuer != "" && u.Issuer != ap.Issuer {
		if err := ap.revoke(ctx, revocation.Subject, u.Issuer, u.Subject); err != nil {
			return err
		}
	}
	if userID == "" {
		return nil
	}
	if _, err := ap.Engine.SignalRevokeGrants(ctx, userID); err != nil {
		return err
	}
	ap.effect.GrantsDropped++
	return ap.revoke(ctx, revocation.Subject, ap.Issuer, userID)
}

// forEachUser resolves each user target to the gateway user it names
// ("" when none) and calls f.
func (ap *applier) forEachUser(ctx context.Context, users []UserRef, f func(context.Context, UserRef, string) error) error {
	for _, u := range users {
		userID, err := ap.gatewayUser(ctx, u)
		if err != nil {
			return err
		}
		if userID == "" && (u.Issuer == "" || u.Issuer == ap.Issuer) {
			ap.effect.Unmatched++
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
func (ap *applier) gatewayUser(ctx context.Context, u UserRef) (string, error) {
	if ap.Engine == nil {
		return "", nil
	}
	switch {
	case u.Email != "":
		return ap.Engine.UserByIdentifier(ctx, stepup.IdentifierEmail, u.Email)
	case u.Phone != "":
		return ap.Engine.UserByIdentifier(ctx, stepup.IdentifierPhone, u.Phone)
	case u.Issuer == ap.Issuer:
		return u.Subject, nil
	}
	return ap.Engine.UserByProvider(ctx, u.Issuer, u.Subject)
}

// revoke records one revocation, lasting as long as a token it refuses
// can live (Gateway.Lifetime). An issuer the gateway does not trust has
// no token `stepup` accepts: nothing to record. A value longer than any
// token's claim can be refuses no token either.
func (ap *applier) revoke(ctx context.Context, kind revocation.Kind, issuer, value string) error {
	if value == "" || len(value) > revocation.MaxValueLength {
		return nil
	}
	lifetime, accepted := ap.Lifetime(issuer)
	if !accepted {
		return nil
	}
	e := revocation.Entry{Kind: kind, Issuer: issuer, Value: value, At: ap.now,
		Until: ap.now.Add(lifetime), Reason: ap.reason}
	if err := ap.Revocations.Revoke(ctx, e); err != nil {
		return err
	}
	ap.effect.Revocations++
	return nil
}
