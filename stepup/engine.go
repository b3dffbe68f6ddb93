// Package stepup is the engine of caddy-stepup: OTP login, sessions with
// DPoP-bound rotating refresh tokens, step-up challenges and grants. It is
// plain Go: the Caddy module turns HTTP requests into calls on Engine and
// its results (or *Error values) into responses.
package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/password"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Signer signs the tokens the gateway mints (jwks.Signer satisfies it).
type Signer interface {
	Sign(typ string, claims any) (string, error)
	DeriveSecret(label string) []byte
}

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

// Config is what an Engine needs. Zero durations take their defaults.
type Config struct {
	Issuer   string
	Audience string
	Signer   Signer
	Store    store.Store
	Sender   otp.Sender // nil: OTP login and OTP steps answer not_configured
	Logger   *zap.Logger

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
	Verifications     VerificationVerifier
	// VerificationMaxLifetime, when set, refuses verification tokens whose
	// exp is further than this from their iat (or that have no iat).
	VerificationMaxLifetime time.Duration
	HookSigner              HookSigner
	HookClient              *http.Client

	Now func() time.Time
}

// Engine runs logins, sessions and step-ups over a Store.
type Engine struct {
	cfg        Config
	codeKey    []byte // HMAC key of stored OTP digests
	refreshKey []byte // HMAC key of refresh-token secrets
	deviceKey  []byte // HMAC key of device cookies
	steps      *StepRegistry
	passwords  *password.Hasher // nil: password login off
	log        *zap.Logger
	// trustedIssuers are the OpenID providers trusted with the addresses
	// they say are verified (OAuthLogin.TrustVerifiedIdentifiers).
	trustedIssuers map[string]bool
	// ownACRs are the acr values the gateway awards itself: a provider's
	// ID token may not claim one unless ACRMap maps it.
	ownACRs map[string]bool
	// rp is the WebAuthn relying party (nil: passkeys off).
	rp *webauthn.WebAuthn
}

// New checks cfg, applies defaults and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Issuer == "" || cfg.Signer == nil || cfg.Store == nil {
		return nil, errors.New("stepup: issuer, signer and store are required")
	}
	cfg.setDefaults()
	steps, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("stepup: %w", err)
	}
	e := &Engine{cfg: cfg, steps: steps, log: cfg.Logger,
		codeKey:    cfg.Signer.DeriveSecret("otp-digest"),
		refreshKey: cfg.Signer.DeriveSecret("refresh-token"),
		deviceKey:  cfg.Signer.DeriveSecret("device-cookie")}
	if cfg.Passwords != nil {
		if e.passwords, err = password.NewHasher(cfg.Passwords.Params, cfg.Passwords.ConcurrentHashes); err != nil {
			return nil, fmt.Errorf("stepup: %w", err)
		}
	}
	e.trustedIssuers = map[string]bool{}
	for _, p := range cfg.OAuth {
		if p.TrustVerifiedIdentifiers {
			e.trustedIssuers[p.Issuer] = true
		}
	}
	e.ownACRs = cfg.ownACRs()
	if cfg.Passkeys != nil {
		if e.rp, err = cfg.Passkeys.relyingParty(); err != nil {
			return nil, fmt.Errorf("stepup: passkeys: %w", err)
		}
	}
	return e, nil
}

func (cfg *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.LoginACR == "" {
		cfg.LoginACR = DefaultLoginACR
	}
	if p := cfg.Passwords; p != nil {
		copied := *p
		if copied.Params == (password.Params{}) {
			copied.Params = password.DefaultParams
		}
		if copied.ACR == "" {
			copied.ACR = DefaultPasswordACR
		}
		cfg.Passwords = &copied
	}
	def(&cfg.AccessTokenTTL, 15*time.Minute)
	def(&cfg.Leeway, 30*time.Second)
	def(&cfg.RefreshTokenTTL, 720*time.Hour)
	def(&cfg.RefreshGrace, 20*time.Second)
	def(&cfg.UserTTL, 400*24*time.Hour)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HookClient == nil {
		cfg.HookClient = NewHookClient(nil)
	}
	cfg.OTP.setDefaults()
	cfg.Limits.setDefaults(&cfg.OTP)
	if p := cfg.Passkeys; p != nil {
		copied := *p
		copied.setDefaults()
		cfg.Passkeys = &copied
	}
}

// validate checks the configuration and returns its step registry, against
// which direct scopes' steps are checked.
func (cfg *Config) validate() (*StepRegistry, error) {
	if len(cfg.Scopes) > 0 && (cfg.ChallengeVerifier == nil || cfg.HookSigner == nil) {
		return nil, errors.New("scopes need a challenge verifier and a hook signer")
	}
	if cfg.OTP.TTL > 10*time.Minute {
		return nil, errors.New("OTP codes may live 10 minutes at most")
	}
	if cfg.OTP.Digits < otp.MinDigits || cfg.OTP.Digits > otp.MaxDigits {
		return nil, fmt.Errorf("OTP codes have %d to %d digits", otp.MinDigits, otp.MaxDigits)
	}
	for _, typ := range cfg.LoginIdentifiers {
		if typ != IdentifierPhone && typ != IdentifierEmail {
			return nil, fmt.Errorf("unknown login identifier type %q", typ)
		}
	}
	if p := cfg.Passkeys; p != nil {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("passkey: %w", err)
		}
	}
	steps, err := NewStepRegistry(cfg.CustomStepKeys, cfg.Passkeys != nil)
	if err != nil {
		return nil, err
	}
	for name, p := range cfg.Scopes {
		if p.Direct == nil {
			continue
		}
		for _, st := range p.Direct.Steps {
			if !steps.Has(st.Key) {
				return nil, fmt.Errorf("scope %s: %w", name, UnknownStepError(st.Key))
			}
		}
	}
	for name, p := range cfg.OAuth {
		if p.Provider == nil || p.Issuer == "" || len(p.RedirectURIs) == 0 {
			return nil, fmt.Errorf("oauth %s: a provider, its issuer and redirect URIs are required", name)
		}
		for from, to := range p.ACRMap {
			if !ValidACR(from) || !ValidACR(to) {
				return nil, fmt.Errorf("oauth %s: acr_map %q %q: printable ASCII, no space, quote or backslash", name, from, to)
			}
		}
		if p.ACR != "" && !ValidACR(p.ACR) {
			return nil, fmt.Errorf("oauth %s: acr %q: printable ASCII, no space, quote or backslash", name, p.ACR)
		}
	}
	if err := cfg.ValidateACR(steps); err != nil {
		return nil, err
	}
	if p := cfg.Passwords; p != nil {
		if err := p.Policy.Validate(); err != nil {
			return nil, err
		}
		if err := p.Params.Validate(); err != nil {
			return nil, err
		}
	}
	return steps, nil
}

func (e *Engine) now() time.Time { return e.cfg.Now() }

// remaining is the TTL of a record that ends at end (Unix s): the time
// left on the clock, never more than the record's configured lifetime
// (a clock that was ahead when the end was set, or is behind now, must
// not make a key outlive what its configuration allows).
func remaining(end int64, now time.Time, lifetime time.Duration) time.Duration {
	return min(time.Unix(end, 0).Sub(now), lifetime)
}

// recordVersion is written into every stored JSON value, so that instances
// of different versions sharing a store can tell formats apart.
const recordVersion = 1

// load reads a JSON record; ErrNotFound stays distinguishable, every other
// store failure becomes unavailable.
func (e *Engine) load(ctx context.Context, key string, v any) ([]byte, error) {
	raw, err := e.cfg.Store.Get(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, unavailable(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, unavailable(fmt.Errorf("decoding %s: %w", keyKind(key), err))
	}
	return raw, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("stepup: encoding a record: " + err.Error())
	}
	return b
}

// storeErr maps a store error on a write to the engine's errors.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(err)
}

// keyKind names a key's family for error messages without its identifiers.
func keyKind(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == ':' {
			return key[:i]
		}
	}
	return key
}
