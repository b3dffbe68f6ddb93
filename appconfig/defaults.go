package appconfig

import (
	"net/url"
	"slices"
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// ResolvePlaceholders replaces the placeholders of every field that may
// hold one with resolve (secrets are written as {env.NAME} and resolved
// when the config is provisioned, never at parse time).
func (c *Config) ResolvePlaceholders(resolve func(string) string) {
	r := func(fields ...*string) {
		for _, f := range fields {
			*f = resolve(*f)
		}
	}
	r(&c.Issuer, &c.Audience, &c.SigningKey, &c.ExternalURL)
	for _, t := range c.Trust {
		if t != nil {
			r(&t.Issuer, &t.JWKSURL)
		}
	}
	if cs := c.CustomSteps; cs != nil {
		r(&cs.JWKSURL, &cs.Issuer)
	}
	for _, s := range c.Scopes {
		if s != nil {
			r(&s.Delegated)
		}
	}
	if st := c.Store; st != nil {
		r(&st.URL, &st.Username, &st.Password)
		for i := range st.Addrs {
			r(&st.Addrs[i])
		}
	}
	if c.OTP != nil && c.OTP.Sender != nil {
		sc := c.OTP.Sender
		r(&sc.URL, &sc.Secret, &sc.Addr, &sc.From, &sc.Username, &sc.Password)
	}
	if c.Management != nil {
		r(&c.Management.Key)
	}
	if c.Login != nil {
		for _, o := range c.Login.OAuth {
			if o != nil {
				r(&o.Issuer, &o.ClientID, &o.ClientSecret)
			}
		}
	}
	r(&c.WebhookSigningKey)
	if c.Webhooks != nil {
		c.Webhooks.resolvePlaceholders(resolve)
	}
}

// Defaults of the app's own settings; the engine's are in
// stepup.Config.WithDefaults, the webhooks' delivery settings in
// webhooks.Options.WithDefaults.
const (
	DefaultTokenCacheSize = 10000
	DefaultJWKSRefresh    = 15 * time.Minute
)

// SetDefaults fills in the defaults of the app's own settings (the token
// cache, trusted issuers, custom steps' algorithms, what the passkey block
// and the webhooks take from the app's URLs, the revocation list). The
// engine's settings take theirs in stepup.Config.WithDefaults, from
// EngineConfig.
func (c *Config) SetDefaults() {
	if c.TokenCacheSize == 0 {
		c.TokenCacheSize = DefaultTokenCacheSize
	}
	if c.HookAlgorithm == "" {
		c.HookAlgorithm = HookES256
	}
	if c.Webhooks != nil {
		c.Webhooks.setDefaults(c.Issuer)
	}
	for _, t := range c.Trust {
		if t == nil {
			continue
		}
		if len(t.Algorithms) == 0 {
			t.Algorithms = []string{"RS256", "ES256"}
		}
		if t.RefreshInterval == 0 {
			t.RefreshInterval = Duration(DefaultJWKSRefresh)
		}
	}
	if cs := c.CustomSteps; cs != nil && len(cs.Algorithms) == 0 {
		cs.Algorithms = []string{"RS256"}
	}
	c.setPasskeyDefaults()
	c.setRevocationDefaults()
}

// AcceptedDPoPAlgorithms is DPoPAlgorithms or its default.
func (c *Config) AcceptedDPoPAlgorithms() []string {
	if len(c.DPoPAlgorithms) > 0 {
		return c.DPoPAlgorithms
	}
	return DefaultDPoPAlgorithms
}

// DefaultDPoPAlgorithms are every asymmetric algorithm a proof may use
// (key types and sizes are checked against them).
var DefaultDPoPAlgorithms = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// StrippedHeaders is the configured strip list, with the default one
// unless strip_headers is off.
func (c *Config) StrippedHeaders() []string {
	if c.StripHeadersOff {
		return c.StripHeaders
	}
	return append(slices.Clone(enforce.DefaultStrippedHeaders), c.StripHeaders...)
}

// TrustsIssuers reports whether the app accepts any access token at all.
func (c *Config) TrustsIssuers() bool {
	return c.Issuer != "" || len(c.Trust) > 0
}

// ExternalOrigin is the origin clients call the session API at.
func (c *Config) ExternalOrigin() string {
	origin := c.ExternalURL
	if origin == "" {
		origin = c.Issuer
	}
	u, err := url.Parse(origin)
	if err != nil {
		return origin // Validate refused it already
	}
	return u.Scheme + "://" + u.Host
}

// VerifiedTokenCacheSize is the size of the verified-token caches
// (token_cache_size), 0 when they are off.
func (c *Config) VerifiedTokenCacheSize() int {
	if c.DisableTokenCache {
		return 0
	}
	return c.TokenCacheSize
}
