package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Passkey login (POST /login/passkey/begin and /finish), with
// discoverable credentials: the assertion names its user (the user
// handle). Finishing answers a login ticket that /login/finalize turns,
// once, into a session bound to the client's DPoP key, as after a
// password login. Both calls are public: begin counts as a login start
// of the client and of everyone (RateLimits), as every other login does.

// PasskeyLoginStart is the answer to login/passkey/begin.
type PasskeyLoginStart struct {
	// Options are the PublicKeyCredentialRequestOptionsJSON, flat, with no
	// allowCredentials: the browser offers every passkey it holds for the
	// relying party.
	Options json.RawMessage
	// Token names the ceremony for login/passkey/finish (single use).
	Token string
}

// BeginPasskeyLogin starts a passkey login.
func (e *Engine) BeginPasskeyLogin(ctx context.Context, client ClientInfo) (*PasskeyLoginStart, error) {
	if !e.PasskeyLoginOffered() {
		return nil, ErrPasskeyNotConfigured
	}
	if full, ok := e.cfg.Store.(store.Bounded); ok && full.NearlyFull() {
		return nil, ErrBusy
	}
	// A login start of the client and of everyone, as every login. Not an
	// unfinished login (ClientUnfinishedLogins): an assertion cannot be
	// guessed, and costs the gateway one signature check.
	l := &e.cfg.Limits
	if err := e.spend(ctx, "", []counter{{clientStartsKey(budgetClient(client.IP)), l.ClientLoginStarts},
		{globalStartsKey, l.LoginStarts}}); err != nil {
		return nil, err
	}
	options, c, err := e.requestOptions(ceremonyLogin, nil)
	if err != nil {
		return nil, err
	}
	token, err := e.storeCeremony(ctx, prefixPasskeyLogin, c)
	if err != nil {
		return nil, err
	}
	return &PasskeyLoginStart{Options: options, Token: token}, nil
}

// FinishPasskeyLogin verifies the assertion of a passkey login and
// returns the ticket for /login/finalize. The ceremony is spent whatever
// happens; every refusal (unknown credential or user, wrong origin or
// relying party, bad signature, no user verification when required)
// looks the same: unauthorized.
func (e *Engine) FinishPasskeyLogin(ctx context.Context, token string, assertion []byte, client ClientInfo) (ticket string, err error) {
	defer func() {
		if err != nil {
			e.loginResult("passkey", client, nil, err)
		}
	}()
	if !e.PasskeyLoginOffered() {
		return "", ErrPasskeyNotConfigured
	}
	c, err := e.takeCeremony(ctx, prefixPasskeyLogin, token, ceremonyLogin, ErrPasskeyLoginGone)
	if err != nil {
		return "", err
	}
	use, userID, err := e.verifyAssertion(ctx, c, assertion, ErrPasskeyLoginFailed, Event{ClientIP: client.IP, Method: "passkey"})
	if err != nil {
		return "", err
	}
	var u userRecord
	if _, err := e.load(ctx, userKey(userID), &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", ErrPasskeyLoginFailed // the user's record is gone: the passkey opens nothing
		}
		return "", err
	}
	e.touchUser(ctx, userID)
	event := e.passkeyLoginEvent(use, e.now())
	return e.issueTicket(ctx, loginTicket{Kind: ticketPasskey, UserID: userID, Event: event})
}

// passkeyLoginEvent is a login with a passkey: its methods, and the
// passkey's acr (the hardware one for a device-bound key when set), else
// DefaultPasskeyACR.
func (e *Engine) passkeyLoginEvent(use *passkeyUse, now time.Time) authEvent {
	amr := use.methods()
	acr := e.passkeyACRFor(use.level())
	if acr == "" {
		acr = DefaultPasskeyACR
	}
	return authEvent{At: now.Unix(), ACR: e.earnedPasskeyACR(acr, amr, use.level()), AMR: amr}
}

// touchUser renews a user's record, passkeys and the identifier indexes
// that name the user, for Config.UserTTL: a user who logs in with
// passkeys only keeps them, as a code login keeps its identifier. Best
// effort: a failure leaves the previous expiry, which the next login
// renews.
func (e *Engine) touchUser(ctx context.Context, userID string) {
	var u userRecord
	raw, err := e.load(ctx, userKey(userID), &u)
	if err != nil {
		return
	}
	_ = e.cfg.Store.Swap(ctx, userKey(userID), raw, raw, e.cfg.UserTTL)
	if _, praw, err := e.loadPasskeys(ctx, userID); err == nil && praw != nil {
		_ = e.cfg.Store.Swap(ctx, userPasskeysKey(userID), praw, praw, e.cfg.UserTTL)
	}
	for _, ui := range u.Identifiers {
		if !e.proven(&ui) {
			continue
		}
		key := identKey(ui.Type, ui.Value)
		var owner string
		if iraw, err := e.load(ctx, key, &owner); err == nil && owner == userID {
			_ = e.cfg.Store.Swap(ctx, key, iraw, iraw, e.cfg.UserTTL)
		}
	}
}
