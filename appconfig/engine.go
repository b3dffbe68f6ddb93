package appconfig

import (
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// EngineConfig is the engine's settings as the app's config words say
// them: a pure function of the app (it reads, changes nothing, acquires
// nothing), which Validate checks with the engine's own rules and New is
// given at Start with the parts Start acquired. Defaults are the
// engine's (stepup.Config.WithDefaults), never set here.
func (c *Config) EngineConfig() stepup.Config {
	cfg := stepup.Config{Issuer: c.Issuer, Audience: c.Audience, LoginACR: c.LoginACR, PossessionACR: c.PossessionACR,
		AccessTokenTTL: time.Duration(c.AccessTokenTTL), Leeway: time.Duration(c.Leeway),
		RefreshTokenTTL: time.Duration(c.RefreshTokenTTL), Passkeys: c.Passkey.passkeyPolicy()}
	if l := c.Login; l != nil {
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
	if l := c.Limits; l != nil {
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
	if o := c.OTP; o != nil {
		cfg.OTP = stepup.OTPPolicy{Digits: o.Digits, TTL: time.Duration(o.TTL), MaxAttempts: o.MaxAttempts,
			ResendCooldown: time.Duration(o.ResendCooldown), MaxResends: o.MaxResends, MaxPerHour: o.MaxPerHour}
	}
	if len(c.Scopes) > 0 {
		cfg.Scopes = make(map[string]stepup.ScopePolicy, len(c.Scopes))
		for name, s := range c.Scopes {
			cfg.Scopes[name] = s.Policy()
		}
	}
	if cs := c.CustomSteps; cs != nil {
		cfg.CustomStepKeys = cs.Keys
		cfg.VerificationMaxLifetime = time.Duration(cs.MaxLifetime)
	}
	return cfg
}

// Policy is the scope block as the engine's policy (nil: a policy of no
// kind, which the engine's rules refuse).
func (s *Scope) Policy() stepup.ScopePolicy {
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
