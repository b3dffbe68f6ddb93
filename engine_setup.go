package caddystepup

import (
	"fmt"
	"net/http"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

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
		}}, Leeway: cfg.Leeway, Now: rt.now, CacheSize: a.VerifiedTokenCacheSize()})
		if err != nil {
			return nil, fmt.Errorf("setting up challenge tokens: %v", err)
		}
		cfg.ChallengeMemory = a.VerifiedTokenCacheSize()
	}
	if cs := a.CustomSteps; cs != nil {
		remote, err := a.acquireRemote(cs.JWKSURL, appconfig.DefaultJWKSRefresh)
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
	if a.HookAlgorithm == appconfig.HookPS256 {
		return rt.webhookKey
	}
	return rt.signer
}
