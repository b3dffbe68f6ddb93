package appconfig

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
	RefreshInterval Duration `json:"refresh_interval,omitempty"`

	// The longest lifetime of the provider's access tokens. A revocation
	// of its tokens (by subject, session or token ID, through the admin
	// API or a signal) that gives no end of its own lasts this long, plus
	// leeway: set it to at least the provider's access-token lifetime, or
	// a revoked token may outlive its revocation. Default: 24h.
	MaxTokenLifetime Duration `json:"max_token_lifetime,omitempty"`
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
	GrantedFor Duration `json:"granted_for,omitempty"`

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
	Expiration Duration `json:"expiration,omitempty"`
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
	MaxLifetime Duration `json:"max_lifetime,omitempty"`
}
