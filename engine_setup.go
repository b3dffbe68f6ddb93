package caddystepup

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// newEngine builds the session and step-up engine over the runtime's
// signer and store (at Start: placeholders are resolved, fields checked).
func (a *App) newEngine(rt *runtime) (*stepup.Engine, error) {
	sender, err := a.newSender(rt.signer)
	if err != nil {
		return nil, err
	}
	cfg := stepup.Config{
		Issuer:          a.Issuer,
		Audience:        a.Audience,
		Signer:          rt.signer,
		Store:           rt.store,
		Sender:          sender,
		Logger:          a.logger,
		AccessTokenTTL:  time.Duration(a.AccessTokenTTL),
		Leeway:          time.Duration(a.Leeway),
		RefreshTokenTTL: time.Duration(a.RefreshTokenTTL),
		HookSigner:      a.hookSigner(rt),
		LoginACR:        a.LoginACR,
		PossessionACR:   a.PossessionACR,
		Passkeys:        a.Passkey.passkeyPolicy(),
		Events:          a.recorder.Record,
		HookClient:      stepup.NewHookClient(telemetry.MeasureHooks(http.DefaultTransport)),
		Now:             rt.now,
	}
	if rt.webhooks != nil {
		cfg.UserEvents = rt.webhooks.Notify
	}
	if a.Login != nil {
		cfg.LoginIdentifiers = a.Login.OTP
		if pw := a.Login.Password; pw != nil {
			cfg.Passwords = pw.passwordLogin()
		}
		if cfg.OAuth, err = a.oauthLogins(rt.now); err != nil {
			return nil, err
		}
	}
	if l := a.Limits; l != nil {
		rate := func(r *RateConfig) stepup.Rate {
			if r == nil {
				return stepup.Rate{}
			}
			return stepup.Rate{Count: r.Count, Window: time.Duration(r.Window)}
		}
		cfg.Limits = stepup.RateLimits{ClientUnprovenSends: rate(l.ClientUnprovenSends),
			ClientDestinationSends: rate(l.ClientDestinationSends), ClientSends: rate(l.ClientSends),
			ClientUnfinishedLogins: rate(l.ClientUnfinishedLogins), ClientLoginStarts: rate(l.ClientLoginStarts),
			LoginStarts: rate(l.LoginStarts), Sends: rate(l.Sends)}
	}
	if o := a.OTP; o != nil {
		cfg.OTP = stepup.OTPPolicy{Digits: o.Digits, TTL: time.Duration(o.TTL), MaxAttempts: o.MaxAttempts,
			ResendCooldown: time.Duration(o.ResendCooldown), MaxResends: o.MaxResends, MaxPerHour: o.MaxPerHour}
	}
	if len(a.Scopes) > 0 {
		cfg.Scopes = make(map[string]stepup.ScopePolicy, len(a.Scopes))
		for name, s := range a.Scopes {
			cfg.Scopes[name] = scopePolicy(s)
		}
		cfg.ChallengeVerifier, err = jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
			Issuer: a.Issuer, Audiences: []string{a.Issuer}, Keys: rt.signer.KeySource(),
			Algorithms: []string{"ES256"}, Types: []string{stepup.ChallengeTokenType},
		}}, Leeway: time.Duration(a.Leeway), Now: rt.now})
		if err != nil {
			return nil, fmt.Errorf("setting up challenge tokens: %v", err)
		}
	}
	if cs := a.CustomSteps; cs != nil {
		cfg.CustomStepKeys = cs.Keys
		remote, err := a.acquireRemote(cs.JWKSURL, defaultJWKSRefresh)
		if err != nil {
			return nil, fmt.Errorf("custom_steps: %v", err)
		}
		cfg.Verifications, err = jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
			Issuer: cs.Issuer, Audiences: cs.Audience, Keys: remote, Algorithms: cs.Algorithms,
		}}, Leeway: time.Duration(a.Leeway), Now: rt.now})
		if err != nil {
			return nil, fmt.Errorf("custom_steps: %v", err)
		}
		cfg.VerificationMaxLifetime = time.Duration(cs.MaxLifetime)
	}
	return stepup.New(cfg)
}

// hookSigner is the key that signs delegation hook requests
// (hook_algorithm): the ES256 signing key, unless PS256 asks for the
// webhook key, as Prelude signs its hook.
func (a *App) hookSigner(rt *runtime) stepup.HookSigner {
	if a.HookAlgorithm == hookPS256 {
		return rt.webhookKey
	}
	return rt.signer
}

// scopePolicy turns a scope block into the engine's policy.
func scopePolicy(s *Scope) stepup.ScopePolicy {
	switch {
	case s.Block:
		return stepup.ScopePolicy{Block: true, ACR: s.ACR}
	case s.Direct != nil:
		d := &stepup.Decision{Status: stepup.StatusReview, GrantMode: s.Direct.GrantMode,
			GrantedFor: int(time.Duration(s.Direct.GrantedFor) / time.Second)}
		for i, st := range s.Direct.Steps {
			d.Steps = append(d.Steps, stepup.Step{Order: i + 1, Key: st.Key,
				ExpirationDuration: int(time.Duration(st.Expiration) / time.Second)})
		}
		return stepup.ScopePolicy{Direct: d, ACR: s.ACR}
	}
	return stepup.ScopePolicy{HookURL: s.Delegated, ACR: s.ACR}
}
