package caddystepup

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// The app's lifecycle is one pass in three steps, each in Caddy's own
// place for it:
//
//   - Provision (this file) resolves every placeholder and fills in the
//     defaults (the engine's settings with theirs, from the pure
//     engineConfig): no I/O, nothing acquired;
//   - Validate (app_validate.go) checks every field, reading only: the
//     engine's settings with the engine's own rules (stepup.Config.Validate);
//   - Start (app_start.go) acquires what the config needs: the signing key,
//     the store and its connections, the remote key sets.
//
// `caddy validate` provisions and validates but never starts apps, so it
// has no side effects: no Redis connection, no key written to storage, no
// JWKS fetched.

// Provision resolves placeholders ({env.*}) and sets defaults.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.recorder = telemetry.NewRecorder(a.logger.Named("audit"))
	if err := telemetry.Register(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	a.rt = new(atomic.Pointer[appRuntime])
	a.resources = new(resourcemeta.Catalog)
	a.started = newStartSignal()
	a.resolvePlaceholders(caddy.NewReplacer())
	a.setDefaults()
	return nil
}

// resolvePlaceholders replaces the known placeholders of every field that
// may hold one (secrets are written as {env.NAME} and resolved here, never
// at parse time).
func (a *App) resolvePlaceholders(repl *caddy.Replacer) {
	r := func(fields ...*string) {
		for _, f := range fields {
			*f = repl.ReplaceKnown(*f, "")
		}
	}
	r(&a.Issuer, &a.Audience, &a.SigningKey, &a.ExternalURL)
	for _, t := range a.Trust {
		if t != nil {
			r(&t.Issuer, &t.JWKSURL)
		}
	}
	if cs := a.CustomSteps; cs != nil {
		r(&cs.JWKSURL, &cs.Issuer)
	}
	for _, s := range a.Scopes {
		if s != nil {
			r(&s.Delegated)
		}
	}
	if st := a.Store; st != nil {
		r(&st.URL, &st.Username, &st.Password)
		for i := range st.Addrs {
			r(&st.Addrs[i])
		}
	}
	if a.OTP != nil && a.OTP.Sender != nil {
		sc := a.OTP.Sender
		r(&sc.URL, &sc.Secret, &sc.Addr, &sc.From, &sc.Username, &sc.Password)
	}
	if a.Management != nil {
		r(&a.Management.Key)
	}
	if a.Login != nil {
		for _, o := range a.Login.OAuth {
			if o != nil {
				r(&o.Issuer, &o.ClientID, &o.ClientSecret)
			}
		}
	}
	r(&a.WebhookSigningKey)
	if a.Webhooks != nil {
		a.Webhooks.resolvePlaceholders(repl)
	}
}

// Defaults of the app's own settings; the engine's are in
// stepup.Config.WithDefaults, the webhooks' in webhooks.Options.
const (
	defaultTokenCacheSize = 10000
	defaultJWKSRefresh    = 15 * time.Minute
)

// setDefaults fills in the defaults of the Caddy side (the token cache,
// trusted issuers, custom steps' algorithms, what the passkey block and
// the webhooks take from the app's URLs), then keeps the engine's
// settings with theirs.
func (a *App) setDefaults() {
	if a.TokenCacheSize == 0 {
		a.TokenCacheSize = defaultTokenCacheSize
	}
	if a.HookAlgorithm == "" {
		a.HookAlgorithm = hookES256
	}
	if a.Webhooks != nil {
		a.Webhooks.setDefaults(a.Issuer)
	}
	for _, t := range a.Trust {
		if t == nil {
			continue
		}
		if len(t.Algorithms) == 0 {
			t.Algorithms = []string{"RS256", "ES256"}
		}
		if t.RefreshInterval == 0 {
			t.RefreshInterval = caddy.Duration(defaultJWKSRefresh)
		}
	}
	if cs := a.CustomSteps; cs != nil && len(cs.Algorithms) == 0 {
		cs.Algorithms = []string{"RS256"}
	}
	a.setPasskeyDefaults()
	a.setRevocationDefaults()
	a.settings = a.engineConfig().WithDefaults()
}

// dpopAlgorithms is DPoPAlgorithms or its default.
func (a *App) dpopAlgorithms() []string {
	if len(a.DPoPAlgorithms) > 0 {
		return a.DPoPAlgorithms
	}
	return defaultDPoPAlgorithms
}

// defaultDPoPAlgorithms are every asymmetric algorithm a proof may use
// (key types and sizes are checked against them).
var defaultDPoPAlgorithms = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// strippedHeaders is the configured strip list, with the default one
// unless strip_headers is off.
func (a *App) strippedHeaders() []string {
	if a.StripHeadersOff {
		return a.StripHeaders
	}
	return append(slices.Clone(enforce.DefaultStrippedHeaders), a.StripHeaders...)
}

// trustsIssuers reports whether the app accepts any access token at all.
func (a *App) trustsIssuers() bool {
	return a.Issuer != "" || len(a.Trust) > 0
}
