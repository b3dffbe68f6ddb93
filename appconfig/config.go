// Package appconfig is the `stepup` app's configuration as plain Go: the
// JSON config types under apps.stepup (and the blocks of its handlers),
// their defaults, their rules, and the engine's settings they say. The
// Caddy shell embeds Config in its app and calls these; nothing here
// imports Caddy, so every rule and default is written once, here or in
// the engine (stepup.Config), and tested without a server.
package appconfig

// Config is the `stepup` app's configuration: the settings every `stepup`
// and `stepup_session` handler of a Caddy instance shares. It is written
// with the `stepup` global option of the Caddyfile, or under `apps.stepup`
// in JSON.
//
// A request's access token is accepted when it was minted by this gateway
// (`issuer`, verified with the gateway's own key) or by one of the `trust`ed
// issuers (verified with the keys of that issuer's JWKS only).
type Config struct {
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
	AccessTokenTTL Duration `json:"access_token_ttl,omitempty"`

	// Lifetime of a session and its refresh tokens. Default: 720h (30 days).
	RefreshTokenTTL Duration `json:"refresh_token_ttl,omitempty"`

	// Clock leeway for `exp`, `nbf` and `iat`. Default: 30s; at most 60s.
	Leeway Duration `json:"leeway,omitempty"`

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

	// defaultWriteScope: SetDefaults declared the prld:passkey:write scope
	// (no scope block did).
	defaultWriteScope bool
}
