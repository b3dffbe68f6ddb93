package caddystepup

import (
	"fmt"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// provisionEngine builds the session and step-up engine over the store.
func (a *App) provisionEngine(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	a.ExternalURL = repl.ReplaceKnown(a.ExternalURL, "")
	origin := a.ExternalURL
	if origin == "" {
		origin = a.Issuer
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("external_url: %q is not an absolute URL", origin)
	}
	a.externalOrigin = u.Scheme + "://" + u.Host

	st := a.store
	sender, err := a.newSender()
	if err != nil {
		return err
	}
	cfg := stepup.Config{
		Issuer:          a.Issuer,
		Audience:        a.Audience,
		Signer:          a.signer,
		Store:           st,
		Sender:          sender,
		Logger:          a.logger,
		AccessTokenTTL:  time.Duration(a.AccessTokenTTL),
		Leeway:          time.Duration(a.Leeway),
		RefreshTokenTTL: time.Duration(a.RefreshTokenTTL),
		HookSigner:      a.signer,
	}
	if a.Login != nil {
		cfg.LoginIdentifiers = a.Login.OTP
	}
	if l := a.Limits; l != nil {
		rate := func(r *RateConfig) stepup.Rate {
			if r == nil {
				return stepup.Rate{}
			}
			return stepup.Rate{Count: r.Count, Window: time.Duration(r.Window)}
		}
		cfg.Limits = stepup.RateLimits{ClientLoginStarts: rate(l.ClientLoginStarts), ClientSends: rate(l.ClientSends),
			LoginStarts: rate(l.LoginStarts), Sends: rate(l.Sends)}
	}
	if o := a.OTP; o != nil {
		cfg.OTP = stepup.OTPPolicy{Digits: o.Digits, TTL: time.Duration(o.TTL), MaxAttempts: o.MaxAttempts,
			ResendCooldown: time.Duration(o.ResendCooldown), MaxResends: o.MaxResends, MaxPerHour: o.MaxPerHour}
	}
	if len(a.Scopes) > 0 {
		cfg.Scopes = make(map[string]stepup.ScopePolicy, len(a.Scopes))
		for name, s := range a.Scopes {
			cfg.Scopes[name] = scopePolicy(s, repl)
		}
		cfg.ChallengeVerifier, err = jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
			Issuer: a.Issuer, Audiences: []string{a.Issuer}, Keys: a.signer.KeySource(),
			Algorithms: []string{"ES256"}, Types: []string{stepup.ChallengeTokenType},
		}}, Leeway: time.Duration(a.Leeway)})
		if err != nil {
			return fmt.Errorf("setting up challenge tokens: %v", err)
		}
	}
	if cs := a.CustomSteps; cs != nil {
		cfg.CustomStepKeys = cs.Keys
		remote, key, err := acquireRemoteKeys(repl.ReplaceKnown(cs.JWKSURL, ""), defaultJWKSRefresh, a.logger)
		if err != nil {
			return fmt.Errorf("custom_steps: %v", err)
		}
		a.remotes = append(a.remotes, key)
		algs := cs.Algorithms
		if len(algs) == 0 {
			algs = []string{"RS256"}
		}
		cfg.Verifications, err = jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
			Issuer: repl.ReplaceKnown(cs.Issuer, ""), Audiences: cs.Audience, Keys: remote, Algorithms: algs,
		}}, Leeway: time.Duration(a.Leeway)})
		cfg.VerificationMaxLifetime = time.Duration(cs.MaxLifetime)
		if err != nil {
			return fmt.Errorf("custom_steps: %v", err)
		}
	}
	a.engine, err = stepup.New(cfg)
	if err != nil {
		return err
	}
	return nil
}

// scopePolicy turns a scope block into the engine's policy.
func scopePolicy(s *Scope, repl *caddy.Replacer) stepup.ScopePolicy {
	switch {
	case s.Block:
		return stepup.ScopePolicy{Block: true}
	case s.Direct != nil:
		d := &stepup.Decision{Status: stepup.StatusReview, GrantMode: s.Direct.GrantMode,
			GrantedFor: int(time.Duration(s.Direct.GrantedFor) / time.Second)}
		for i, st := range s.Direct.Steps {
			d.Steps = append(d.Steps, stepup.Step{Order: i + 1, Key: st.Key,
				ExpirationDuration: int(time.Duration(st.Expiration) / time.Second)})
		}
		return stepup.ScopePolicy{Direct: d}
	}
	return stepup.ScopePolicy{HookURL: repl.ReplaceKnown(s.Delegated, "")}
}
