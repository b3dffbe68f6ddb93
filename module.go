// Package caddystepup is a Caddy plugin that puts step-up authentication in
// front of existing APIs without changing their code.
//
// It registers these modules:
//
//   - the `stepup` app (Caddyfile: the `stepup` global option), which holds
//     what every route shares: the issuers whose access tokens are trusted, the
//     gateway's own signing key, the scopes that can be stepped up;
//   - the `http.handlers.stepup` handler (directive `stepup`), which verifies
//     the access token of each request and enforces the scopes its route
//     requires;
//   - the `http.handlers.stepup_session` handler (directive
//     `stepup_session`), which serves the gateway's own endpoints (its JWKS,
//     and the session API the Prelude web SDK speaks);
//   - the `http.handlers.stepup_management` handler (directive
//     `stepup_management`) and the `admin.api.stepup` admin routes, which
//     serve the admin routes and Prelude's management calls (package
//     adminapi), the first on a site of the operator's choice with its own
//     key, the second on Caddy's admin endpoint.
//
// The Caddy side is a thin shell: keys and token verification live in the
// plain-Go package jwks, the engine in stepup, the metrics and the audit
// log in telemetry.
package caddystepup

import (
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `stepup` app: the settings every `stepup` and `stepup_session`
// handler of a Caddy instance shares. It is configured with the `stepup`
// global option of the Caddyfile, or under `apps.stepup` in JSON.
//
// A request's access token is accepted when it was minted by this gateway
// (`issuer`, verified with the gateway's own key) or by one of the `trust`ed
// issuers (verified with the keys of that issuer's JWKS only).
type App struct {
	// The `iss` of the access tokens this gateway mints, and the issuer it
	// accepts its own tokens from. An absolute URL, e.g.
	// `https://api.example.com`. Required when a `stepup_session` handler is
	// used; optional otherwise.
	Issuer string `json:"issuer,omitempty"`

	// The `aud` of the access tokens this gateway mints and requires of its
	// own tokens. Default: the issuer.
	Audience string `json:"audience,omitempty"`

	// Path to a PEM file holding the gateway's ECDSA P-256 private key
	// (PKCS#8 or SEC1), used to sign access and challenge tokens, the OTP
	// sender's webhook and (with hook_algorithm ES256) the delegation hook.
	// Default: a key generated once and kept in Caddy's storage
	// (`stepup/signing_key.pem`), so that every instance sharing the storage
	// uses the same key.
	SigningKey string `json:"signing_key,omitempty"`

	// Path to a PEM file holding an RSA private key (PKCS#8 or PKCS#1,
	// 2048 to 8192 bits) that signs the session webhooks (RSASSA-PSS
	// SHA-256, as Prelude signs its own) and, with `hook_algorithm PS256`,
	// the delegation hook. Its public half is published in
	// `/.well-known/jwks.json` beside the signing key, with its own kid and
	// `alg: PS256`; it signs no token. Loaded only when `webhooks` is set
	// or hook_algorithm is PS256. Default: a 2048-bit key generated once
	// and kept in Caddy's storage (`stepup/webhook_signing_key.pem`).
	WebhookSigningKey string `json:"webhook_signing_key,omitempty"`

	// How delegation hook requests are signed: `ES256` (the signing key)
	// or `PS256` (the webhook signing key: RSASSA-PSS SHA-256, as Prelude
	// signs its hook, for hooks written for Prelude). Either way the
	// headers are X-Webhook-Signature (base64url, no prefix) and
	// X-Webhook-Signature-Key-Id, the key's kid in the JWKS. Default:
	// ES256.
	HookAlgorithm string `json:"hook_algorithm,omitempty"`

	// Prelude's session webhooks: users created, identifiers added,
	// sessions opened and ended, sent to your backend. Default: none.
	Webhooks *WebhooksConfig `json:"webhooks,omitempty"`

	// Lifetime of the access tokens the gateway mints. Default: 15m.
	AccessTokenTTL caddy.Duration `json:"access_token_ttl,omitempty"`

	// Lifetime of a session and its refresh tokens. Default: 720h (30 days).
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`

	// Clock leeway for `exp`, `nbf` and `iat`. Default: 30s; at most 60s.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// Number of verified access tokens remembered so that a token presented
	// again skips signature verification. Entries are keyed by a hash of the
	// token, never outlive its `exp`, and failures are never cached.
	// Default: 10000.
	TokenCacheSize int `json:"token_cache_size,omitempty"`

	// Turns the verified-token cache off: every request verifies its token's
	// signature. Default: false.
	DisableTokenCache bool `json:"disable_token_cache,omitempty"`

	// External issuers whose access tokens are also accepted, each with its
	// own key set. A token is only ever checked against the keys of the
	// issuer named in its `iss`.
	Trust []*Trust `json:"trust,omitempty"`

	// Scopes that can be stepped up, by name. A route that requires a scope
	// listed here answers a missing scope with 401
	// `insufficient_user_authentication` (a step-up challenge); a scope not
	// listed here is answered with 403 `insufficient_scope`.
	Scopes map[string]*Scope `json:"scopes,omitempty"`

	// The `acr` of the tokens of a fresh login (RFC 9470: the authentication
	// context class a route's `acr` compares with). A step-up sets its
	// scope's `acr` instead. Default: `urn:stepup:otp`.
	LoginACR string `json:"login_acr,omitempty"`

	// `acr` values that assert possession of a device (NIST SP 800-63B
	// §5.1.3.1): only an authentication that proves possession earns one,
	// that is an SMS code, or a custom step whose verification token's
	// `amr` holds `hwk`, `swk`, `sc`, `sms` or `tel`. An email code never
	// does: a scope whose steps are email codes only, or a `login_acr`
	// with email login on, is refused at load. Default: none.
	PossessionACR []string `json:"possession_acr,omitempty"`

	// The step-up configuration posted through the management calls
	// (Prelude's `config/stepup` and `config/scopes`), and the key that
	// admin.api.stepup requires on its routes (Caddyfile:
	// `management_key`). Written by those calls; set `key` yourself.
	Management *ManagementConfig `json:"management,omitempty"`

	// Where challenges, codes, sessions, grants and replay markers live.
	// Default: memory (one instance only).
	Store *StoreConfig `json:"store,omitempty"`

	// The revocation list every stepup handler checks: how often it is
	// read, how stale it may get, how large. Default: poll_interval 1s,
	// max_staleness 10s, max_entries 1000000.
	Revocation *RevocationConfig `json:"revocation,omitempty"`

	// Login methods offered to the SDK. Default: none.
	Login *LoginConfig `json:"login,omitempty"`

	// Passkeys (WebAuthn): enrolment, the `verify_passkey` step and,
	// when asked for, passkey login. Default: off.
	Passkey *PasskeyConfig `json:"passkey,omitempty"`

	// Limits on the work clients can cause without credentials: login
	// starts and codes sent, per client and for all clients together.
	Limits *LimitsConfig `json:"limits,omitempty"`

	// One-time codes: their sender and limits.
	OTP *OTPConfig `json:"otp,omitempty"`

	// Custom steps, completed by your backend and proven with a
	// verification token it signs.
	CustomSteps *CustomStepsConfig `json:"custom_steps,omitempty"`

	// Origins (scheme://host[:port]) of web apps on other origins allowed
	// to call the session API with credentials. Default: none (same-origin
	// use needs no CORS).
	CORS []string `json:"cors,omitempty"`

	// The origin clients use to reach the session API (scheme://host[:port]),
	// which DPoP proofs must name. Default: the origin of issuer.
	ExternalURL string `json:"external_url,omitempty"`

	// Identity headers removed from every request that reaches a `stepup`
	// handler, besides `X-Stepup-*` and the handler's own identity header
	// names: names, or prefixes ending in `*`, matched case-insensitively
	// and with `_` read as `-`. They add to the default list, which holds
	// the headers other auth proxies set and legacy APIs trust:
	// Remote-User, Remote-Groups, Remote-Email, Remote-Name, X-Remote-User,
	// X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Preferred-Username,
	// X-Forwarded-Groups, X-Forwarded-Access-Token, X-Auth-Request-*,
	// X-Auth-*.
	StripHeaders []string `json:"strip_headers,omitempty"`

	// Keep the default list of StripHeaders off: only `X-Stepup-*`, the
	// handlers' identity header names and StripHeaders are removed
	// (Caddyfile: `strip_headers off`). Default: false.
	StripHeadersOff bool `json:"strip_headers_off,omitempty"`

	// Signature algorithms accepted for DPoP proofs at `stepup` handlers
	// (RFC 9449 §7, named in `algs` of DPoP challenges); asymmetric only.
	// Default: ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA.
	DPoPAlgorithms []string `json:"dpop_algorithms,omitempty"`

	ctx    caddy.Context
	logger *zap.Logger
	// recorder counts the engine's events and writes the audit log
	// (stepup.audit).
	recorder *telemetry.Recorder
	// rt is what Start acquired; nil before (and during `caddy validate`,
	// which never starts apps): handlers answer 503 until it is set.
	rt *atomic.Pointer[appRuntime]
	// started fires when rt is set, or will never be (awaitRuntime).
	started  *startSignal
	remotes  []string // pool keys of the remote key sets Start acquired
	storeKey string   // pool key of the store Start acquired
	// revocationKey is the pool key of the revocation list Start acquired.
	revocationKey string
	// webhooksKey and webhooksPooled are the webhook dispatcher Start
	// acquired.
	webhooksKey    string
	webhooksPooled *pooledDispatcher
	// resources gathers the routes by resource for their RFC 9728
	// metadata; sessionServed: a stepup_session handler was provisioned
	// with this config (the gateway is then an authorization server).
	// Both are written while the config is provisioned, read after.
	resources     *resourcemeta.Catalog
	sessionServed bool
	// defaultWriteScope: Provision declared the prld:passkey:write scope
	// (no scope block did).
	defaultWriteScope bool
	// settings are the engine's settings, its defaults applied
	// (Provision): what the engine is given at Start, and what the app
	// reads of them (leeway, audience, login acr).
	settings stepup.Config
}

// CustomStepsConfig declares custom steps: steps your backend runs (a KYC
// review, a call-back...) and proves with a verification token.
type CustomStepsConfig struct {
	// Where your backend publishes the public keys that sign verification
	// tokens. Required.
	JWKSURL string `json:"jwks_url,omitempty"`

	// The custom step keys a hook or a direct scope may use.
	Keys []string `json:"keys,omitempty"`

	// Accepted signature algorithms. Default: ["RS256"].
	Algorithms []string `json:"algorithms,omitempty"`

	// The exact `iss` verification tokens must carry. Default: not checked
	// (any token signed by a key of jwks_url).
	Issuer string `json:"issuer,omitempty"`

	// Accepted `aud` values: a token must name one of them. Default: not
	// checked.
	Audience []string `json:"audience,omitempty"`

	// The longest a verification token may live (exp − iat); a token
	// without iat is then refused. Default: not checked.
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`
}

// LimitsConfig bounds what clients can make the gateway do before they
// prove anything (OWASP API4:2023): logins started, and codes sent (SMS
// pumping). A client is Caddy's client IP (after `trusted_proxies`): an
// IPv4 address, or an IPv6 /48 (an attacker often holds a whole /48;
// the delays after wrong codes still fall on one /64). Thousands of honest
// users can share one address (carrier-grade NAT): the small budgets count
// only what was not proven, a login code being given back when its login
// completes and a login when it completes; the large ones bound what one
// address may do in all. Counters live in the store, so instances sharing
// it count together. Past a limit the answer is 429 `rate_limited`,
// nothing is sent or stored, and the counters counted before the refusing
// one are given back.
type LimitsConfig struct {
	// Login codes (and their resends) sent because of one client to
	// identifiers it has no device cookie of, until their login completes
	// (SMS pumping from one address). Default: 20 per 1h.
	ClientUnprovenSends *RateConfig `json:"client_unproven_sends,omitempty"`
	// How many of those one client may send to one phone number or email
	// address: its share of the destination's `otp max_per_hour`, so that
	// a stranger at one address cannot spend a victim's codes. Given back
	// when the login completes. Default: one login's codes (1 +
	// max_resends), at most half of max_per_hour (at least 1), per 1h.
	ClientDestinationSends *RateConfig `json:"client_destination_sends,omitempty"`
	// Every code sent because of one client, proven or not: login codes,
	// resends, step-up codes (one address's share of `sends`). Default:
	// 3000 per 1h.
	ClientSends *RateConfig `json:"client_sends,omitempty"`
	// Password logins, sign-ups and OAuth logins started by one client
	// until they complete (the password matched, the sign-up's code was
	// proven, the provider vouched); a password login with the device
	// cookie of an earlier login of its address is not counted. Default:
	// 10 per 10m.
	ClientUnfinishedLogins *RateConfig `json:"client_unfinished_logins,omitempty"`
	// Every password login, sign-up and OAuth login started by one client,
	// completed or not (an OTP login is counted by its code). Default:
	// 3000 per 1h.
	ClientLoginStarts *RateConfig `json:"client_login_starts,omitempty"`
	// Logins started by all clients together (OTP, password, sign-up,
	// OAuth). Default: 600 per 1m.
	LoginStarts *RateConfig `json:"login_starts,omitempty"`
	// Codes sent for all clients together. Default: 600 per 1m.
	Sends *RateConfig `json:"sends,omitempty"`
}

// limitWords are the `limits` words, each with its field.
func (l *LimitsConfig) limitWords() map[string]**RateConfig {
	return map[string]**RateConfig{
		"client_unproven_sends": &l.ClientUnprovenSends, "client_destination_sends": &l.ClientDestinationSends,
		"client_sends": &l.ClientSends, "client_unfinished_logins": &l.ClientUnfinishedLogins,
		"client_login_starts": &l.ClientLoginStarts, "login_starts": &l.LoginStarts, "sends": &l.Sends,
	}
}

// RateConfig is a number of events per window.
type RateConfig struct {
	// How many events a window allows; at least 1.
	Count int `json:"count,omitempty"`
	// The length of a window; at least 1s.
	Window caddy.Duration `json:"window,omitempty"`
}

// Trust accepts access tokens issued by an external identity provider.
type Trust struct {
	// The exact `iss` of the provider's tokens. Required.
	Issuer string `json:"issuer,omitempty"`

	// Where the provider publishes its public keys (RFC 7517 JWKS). Must be
	// https, except on loopback addresses. Required.
	JWKSURL string `json:"jwks_url,omitempty"`

	// Accepted `aud` values: a token must name one of them. Default: none
	// required (every audience is accepted), which is only safe when the
	// provider issues tokens for this API alone.
	Audience []string `json:"audience,omitempty"`

	// Signature algorithms accepted from this provider; asymmetric only.
	// Default: ["RS256", "ES256"].
	Algorithms []string `json:"algorithms,omitempty"`

	// Accepted `typ` header values besides `at+jwt` (RFC 9068). Some
	// providers issue `JWT`; list it here to accept their tokens.
	// Default: none.
	Types []string `json:"types,omitempty"`

	// How often the key set is fetched again. Unknown key IDs trigger an
	// early fetch, at most once a minute. Default: 15m.
	RefreshInterval caddy.Duration `json:"refresh_interval,omitempty"`

	// The longest lifetime of the provider's access tokens. A revocation
	// of its tokens (by subject, session or token ID, through the admin
	// API or a signal) that gives no end of its own lasts this long, plus
	// leeway: set it to at least the provider's access-token lifetime, or
	// a revoked token may outlive its revocation. Default: 24h.
	MaxTokenLifetime caddy.Duration `json:"max_token_lifetime,omitempty"`
}

// Scope declares how a scope is stepped up. Exactly one of Delegated,
// Direct and Block is set.
type Scope struct {
	// URL of the delegation hook that decides, per request, whether the
	// scope is granted, refused, or needs steps (Prelude's hook protocol).
	Delegated string `json:"delegated,omitempty"`

	// Fixed steps and grant, decided by the configuration alone.
	Direct *DirectScope `json:"direct,omitempty"`

	// Refuse every step-up request for this scope.
	Block bool `json:"block,omitempty"`

	// The `acr` a completed step-up of this scope earns: the tokens after
	// it carry this `acr`, the steps' `amr` and their time as `auth_time`.
	// A route whose `acr` lists it names this scope in its challenges.
	// Default: the app's `login_acr`.
	ACR string `json:"acr,omitempty"`
}

// DirectScope is a step-up policy written in the configuration.
type DirectScope struct {
	// The steps the user completes, in order: 1 to 10, each key once (the
	// bounds of a delegation hook's answer).
	Steps []DirectStep `json:"steps,omitempty"`

	// How long the grant lasts once the steps are done: 1s to 24h.
	// Default: 5m.
	GrantedFor caddy.Duration `json:"granted_for,omitempty"`

	// `single-use` (one request through `stepup`) or `session-bound` (kept in
	// the session's tokens until granted_for ends). Default: single-use.
	GrantMode string `json:"grant_mode,omitempty"`
}

// DirectStep is one step of a direct scope.
type DirectStep struct {
	// Step key: `verify_sms`, `verify_email`, `verify_passkey` (with a
	// `passkey` block) or a configured custom step.
	Key string `json:"key,omitempty"`
	// How long the user has to complete the step: 1s to 24h. Default: 5m.
	Expiration caddy.Duration `json:"expiration,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup",
		New: func() caddy.Module { return new(App) },
	}
}

// Grant modes.
const (
	grantSingleUse    = stepup.GrantSingleUse
	grantSessionBound = stepup.GrantSessionBound
)

// accessTokenType is the `typ` of access tokens (RFC 9068).
const accessTokenType = "at+jwt"

// appFrom loads the stepup app (an empty one when it is not configured).
func appFrom(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("stepup")
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
