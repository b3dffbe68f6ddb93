package stepup

import (
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/password"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// The engine's configuration: what it may be told (Config), the defaults
// of what it is not told (WithDefaults), and the rules a configuration
// must follow (config_rules.go). The Caddy app builds a Config from its
// own settings and calls Validate at load, so that `caddy validate` says
// what New would; both apply the one set of defaults here.

// OTPPolicy bounds one-time codes (docs/security.md, "OTP and challenges").
type OTPPolicy struct {
	Digits          int           // default 6
	TTL             time.Duration // default 5m, at most 10m
	MaxAttempts     int           // wrong codes per code; default 5
	ResendCooldown  time.Duration // default 30s
	MaxResends      int           // per flow or challenge; default 3
	MaxPerHour      int           // codes per destination per hour; default 10
	MaxUserFailures int           // consecutive failures per identifier; default 100
}

func (p *OTPPolicy) setDefaults() {
	if p.Digits == 0 {
		p.Digits = 6
	}
	if p.TTL == 0 {
		p.TTL = 5 * time.Minute
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 5
	}
	if p.ResendCooldown == 0 {
		p.ResendCooldown = 30 * time.Second
	}
	if p.MaxResends == 0 {
		p.MaxResends = 3
	}
	if p.MaxPerHour == 0 {
		p.MaxPerHour = 10
	}
	if p.MaxUserFailures == 0 {
		p.MaxUserFailures = 100
	}
}

// Config is what an Engine needs. Zero values take their defaults
// (WithDefaults). Issuer, Signer and Store are required; Sender, the
// verifiers, the hook's signer and client, Events, UserEvents, Logger and
// Now are the parts New is given at start, which Validate does not need.
type Config struct {
	Issuer   string
	Audience string
	// Resources are the resource identifiers (RFC 8707) routes name: a
	// step-up request's `resource` metadata must be one of them.
	Resources []string
	Signer    Signer
	Store     store.Store
	Sender    otp.Sender // nil: OTP login and OTP steps answer not_configured
	Logger    *zap.Logger

	// LoginIdentifiers lists the identifier types OTP login accepts
	// ("phone_number", "email_address"); empty: OTP login is off.
	LoginIdentifiers []string
	// LoginACR is the acr of the tokens of a fresh login (default
	// DefaultLoginACR).
	LoginACR string
	// PossessionACR are the acr values that assert possession of a device:
	// only an event that proves possession (an SMS code, a custom step
	// whose verification token's amr says hwk, swk, sc, sms or tel) earns
	// one; an email code never does.
	PossessionACR []string
	// Passwords turns password login and sign-up on; nil: off.
	Passwords *PasswordLogin
	// OAuth are the OpenID providers users log in with, by the name the
	// SDK puts in the path (/login/oauth/{name}/authorize).
	OAuth map[string]OAuthLogin
	// Passkeys turns passkeys on (enrolment, the verify_passkey step, and
	// passkey login when its Login is set); nil: off.
	Passkeys *PasskeyPolicy

	// Events receives every security event (events.go), for the audit log
	// and metrics; nil: none. It is called synchronously: keep it quick.
	Events func(Event)
	// UserEvents receives every user event (user_events.go): users
	// created, identifiers added, sessions opened and ended, for the
	// session webhooks; nil: none. It is called synchronously, in the
	// request that caused the event: it must never block.
	UserEvents func(UserEvent)
	// Revocations refuses the access tokens of every session that ends
	// (logout, /me/revoke, the admin API, a refresh token's reuse, a
	// re-login) at every instance: the session's sid is revoked before the
	// session is ended. nil: those tokens live until they expire.
	Revocations Revoker

	AccessTokenTTL time.Duration // default 15m
	// Leeway is the clock leeway verifiers apply to exp (default 30s): a
	// session-bound scope leaves the tokens this long before its grant
	// ends, so that no verifier accepts it after the end.
	Leeway          time.Duration
	RefreshTokenTTL time.Duration // default 720h
	RefreshGrace    time.Duration // a rotated refresh token still works this long (SDK retries); default 20s
	UserTTL         time.Duration // user records live this long after the last login; default 400 days
	OTP             OTPPolicy
	Limits          RateLimits

	// Step-up: scopes by name, known custom step keys, the verifier of the
	// gateway's own challenge tokens, the verifier of custom steps'
	// verification tokens (nil: custom steps off), and the hook client.
	Scopes            map[string]ScopePolicy
	CustomStepKeys    []string
	ChallengeVerifier VerificationVerifier
	// ChallengeMemory is how many of the challenge tokens it signed the
	// engine remembers, so that their client presenting them to this
	// instance costs no verification (signedChallenges); 0 remembers none.
	ChallengeMemory int
	Verifications   VerificationVerifier
	// VerificationMaxLifetime, when set, refuses verification tokens whose
	// exp is further than this from their iat (or that have no iat).
	VerificationMaxLifetime time.Duration
	HookSigner              HookSigner
	HookClient              *http.Client
	// AccessTokens, when set, is told of every access token the engine
	// mints (the verifier of the stepup handlers and the session API
	// admits it to its cache: a client presenting it on this instance
	// costs no signature verification).
	AccessTokens Admitter

	Now func() time.Time
}

// DirectPolicy is a step-up the configuration decides alone: its steps, in
// order, and the grant they earn. It is an answer a delegation hook could
// give, within the same bounds.
type DirectPolicy struct {
	Steps      []DirectStep
	GrantedFor time.Duration // how long the grant lasts; default 5m, 1s to 24h
	GrantMode  string        // GrantSingleUse (the default) or GrantSessionBound
}

// DirectStep is one step of a DirectPolicy.
type DirectStep struct {
	Key        string
	Expiration time.Duration // time to complete it; default 5m, 1s to 24h
}

// Defaults of the settings.
const (
	defaultDirectDuration  = 5 * time.Minute
	defaultAccessTokenTTL  = 15 * time.Minute
	defaultLeeway          = 30 * time.Second
	defaultRefreshTokenTTL = 720 * time.Hour
	defaultRefreshGrace    = 20 * time.Second
	defaultUserTTL         = 400 * 24 * time.Hour
)

// WithDefaults is cfg with every unset setting given its default. It
// changes nothing cfg shares: what it fills in (scopes, passwords,
// passkeys) is copied first.
func (cfg Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	if cfg.LoginACR == "" {
		cfg.LoginACR = DefaultLoginACR
	}
	def(&cfg.AccessTokenTTL, defaultAccessTokenTTL)
	def(&cfg.Leeway, defaultLeeway)
	def(&cfg.RefreshTokenTTL, defaultRefreshTokenTTL)
	def(&cfg.RefreshGrace, defaultRefreshGrace)
	def(&cfg.UserTTL, defaultUserTTL)
	cfg.OTP.setDefaults()
	cfg.Limits.setDefaults(&cfg.OTP)
	if p := cfg.Passwords; p != nil {
		cfg.Passwords = p.withDefaults()
	}
	if p := cfg.Passkeys; p != nil {
		copied := *p
		copied.setDefaults()
		cfg.Passkeys = &copied
	}
	if len(cfg.Scopes) > 0 {
		scopes := make(map[string]ScopePolicy, len(cfg.Scopes))
		for name, p := range cfg.Scopes {
			if p.Direct != nil {
				d := p.Direct.withDefaults()
				p.Direct = &d
			}
			scopes[name] = p
		}
		cfg.Scopes = scopes
	}
	return cfg
}

// setParts gives the parts New may be left without their stand-ins.
func (cfg *Config) setParts() {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HookClient == nil {
		cfg.HookClient = NewHookClient(nil)
	}
}

func (p *PasswordLogin) withDefaults() *PasswordLogin {
	copied := *p
	if copied.Params == (password.Params{}) {
		copied.Params = password.DefaultParams
	}
	if copied.Policy.MinLength == 0 {
		copied.Policy.MinLength = password.DefaultMinLength
	}
	if copied.Policy.MaxLength == 0 {
		copied.Policy.MaxLength = max(password.DefaultMaxLength, copied.Policy.MinLength)
	}
	if copied.ACR == "" {
		copied.ACR = DefaultPasswordACR
	}
	return &copied
}

func (d DirectPolicy) withDefaults() DirectPolicy {
	d.Steps = slices.Clone(d.Steps)
	for i := range d.Steps {
		if d.Steps[i].Expiration == 0 {
			d.Steps[i].Expiration = defaultDirectDuration
		}
	}
	if d.GrantedFor == 0 {
		d.GrantedFor = defaultDirectDuration
	}
	if d.GrantMode == "" {
		d.GrantMode = GrantSingleUse
	}
	return d
}

// decision is the policy as a hook's answer (durations in whole seconds).
func (d *DirectPolicy) decision() *Decision {
	out := &Decision{Status: StatusReview, GrantMode: d.GrantMode, GrantedFor: int(d.GrantedFor / time.Second)}
	for i, st := range d.Steps {
		out.Steps = append(out.Steps, Step{Order: i + 1, Key: st.Key, ExpirationDuration: int(st.Expiration / time.Second)})
	}
	return out
}
