package caddystepup

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// engineConfig is the engine's settings as the app's config words say
// them: a pure function of the app (it reads, changes nothing, acquires
// nothing), which Validate checks with the engine's own rules and New is
// given at Start with the parts Start acquired. Defaults are the
// engine's (stepup.Config.WithDefaults), never set here.
func (a *App) engineConfig() stepup.Config {
	cfg := stepup.Config{Issuer: a.Issuer, Audience: a.Audience, LoginACR: a.LoginACR, PossessionACR: a.PossessionACR,
		AccessTokenTTL: time.Duration(a.AccessTokenTTL), Leeway: time.Duration(a.Leeway),
		RefreshTokenTTL: time.Duration(a.RefreshTokenTTL), Passkeys: a.Passkey.passkeyPolicy()}
	if l := a.Login; l != nil {
		cfg.LoginIdentifiers = l.OTP
		if pw := l.Password; pw != nil {
			cfg.Passwords = pw.passwordLogin()
		}
		for name, o := range l.OAuth {
			if cfg.OAuth == nil {
				cfg.OAuth = make(map[string]stepup.OAuthLogin, len(l.OAuth))
			}
			if o == nil {
				o = &OAuthConfig{} // refused by Validate: client_id is required
			}
			cfg.OAuth[name] = stepup.OAuthLogin{Issuer: o.Issuer, RedirectURIs: o.RedirectURIs, ACR: o.ACR, ACRMap: o.ACRMap,
				TrustVerifiedIdentifiers: o.TrustVerifiedIdentifiers}
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
	}
	if cs := a.CustomSteps; cs != nil {
		cfg.CustomStepKeys = cs.Keys
		cfg.VerificationMaxLifetime = time.Duration(cs.MaxLifetime)
	}
	return cfg
}

// scopePolicy turns a scope block into the engine's policy (nil: a policy
// of no kind, which the engine's rules refuse).
func scopePolicy(s *Scope) stepup.ScopePolicy {
	switch {
	case s == nil:
		return stepup.ScopePolicy{}
	case s.Direct != nil:
		d := &stepup.DirectPolicy{GrantMode: s.Direct.GrantMode, GrantedFor: time.Duration(s.Direct.GrantedFor)}
		for _, st := range s.Direct.Steps {
			d.Steps = append(d.Steps, stepup.DirectStep{Key: st.Key, Expiration: time.Duration(st.Expiration)})
		}
		return stepup.ScopePolicy{Direct: d, Block: s.Block, HookURL: s.Delegated, ACR: s.ACR}
	}
	return stepup.ScopePolicy{Block: s.Block, HookURL: s.Delegated, ACR: s.ACR}
}

// newEngine builds the session and step-up engine from the app's settings
// (defaults applied at Provision) and the parts Start acquired: the
// signer, the store, the sender, the verifiers, the providers, the hooks.
func (a *App) newEngine(rt *appRuntime) (*stepup.Engine, error) {
	cfg := a.settings
	var err error
	if cfg.Sender, err = a.newSender(rt.signer); err != nil {
		return nil, err
	}
	cfg.Signer, cfg.Store, cfg.Logger, cfg.Now = rt.signer, rt.store, a.logger, rt.now
	cfg.HookSigner, cfg.Events = a.hookSigner(rt), a.recorder.Record
	// The routes' resources, complete once every handler of the config
	// has been provisioned (the app is provisioned before them).
	cfg.Resources = a.resourceCatalog().Resources()
	cfg.Revocations = rt.revocations
	cfg.HookClient = stepup.NewHookClient(telemetry.MeasureHooks(http.DefaultTransport))
	if rt.webhooks != nil {
		cfg.UserEvents = rt.webhooks.Notify
	}
	if cfg.OAuth, err = a.withProviders(cfg.OAuth, cfg.Leeway, rt.now); err != nil {
		return nil, err
	}
	if rt.tokens != nil {
		cfg.AccessTokens = rt.tokens
	}
	if len(cfg.Scopes) > 0 {
		// The challenge tokens this instance signs are remembered by the
		// engine (the token cache's size): their client presents each once
		// or twice, on this instance or another, where the verifier checks
		// them in full.
		cfg.ChallengeVerifier, err = jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
			Issuer: a.Issuer, Audiences: []string{a.Issuer}, Keys: rt.signer.KeySource(),
			Algorithms: []string{"ES256"}, Types: []string{stepup.ChallengeTokenType},
		}}, Leeway: cfg.Leeway, Now: rt.now, CacheSize: a.tokenCacheSize()})
		if err != nil {
			return nil, fmt.Errorf("setting up challenge tokens: %v", err)
		}
		cfg.ChallengeMemory = a.tokenCacheSize()
	}
	if cs := a.CustomSteps; cs != nil {
		remote, err := a.acquireRemote(cs.JWKSURL, defaultJWKSRefresh)
		if err != nil {
			return nil, fmt.Errorf("custom_steps: %v", err)
		}
		cfg.Verifications, err = jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
			Issuer: cs.Issuer, Audiences: cs.Audience, Keys: remote, Algorithms: cs.Algorithms,
		}}, Leeway: cfg.Leeway, Now: rt.now})
		if err != nil {
			return nil, fmt.Errorf("custom_steps: %v", err)
		}
	}
	return stepup.New(cfg)
}

// hookSigner is the key that signs delegation hook requests
// (hook_algorithm): the ES256 signing key, unless PS256 asks for the
// webhook key, as Prelude signs its hook.
func (a *App) hookSigner(rt *appRuntime) stepup.HookSigner {
	if a.HookAlgorithm == hookPS256 {
		return rt.webhookKey
	}
	return rt.signer
}
