package stepup

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
)

// The rules of the engine's configuration, in one place: New refuses what
// they refuse, and the Caddy app's Validate calls Validate, so that a
// configuration is refused at load with the words of its settings
// (`leeway`, `otp: ttl`, `scope NAME: direct: ...`), never when the
// first request needs it.

// Bounds of the settings.
const (
	// MaxLeeway bounds the clock leeway verifiers allow.
	MaxLeeway           = 60 * time.Second
	maxOTPTTL           = 10 * time.Minute
	maxDirectSteps      = 10
	maxDirectDuration   = maxStepDuration * time.Second
	maxConcurrentHashes = 256
	maxProviderName     = 64
)

// Validate checks the settings, with their defaults applied: every rule
// New applies, without the parts New is given at start (signer, store,
// verifiers, providers, sender).
func (cfg Config) Validate() error {
	cfg = cfg.WithDefaults()
	_, err := cfg.check()
	return err
}

// check applies every rule to cfg (its defaults applied), and returns the
// step registry its scopes were checked against.
func (cfg *Config) check() (*StepRegistry, error) {
	for _, rule := range []func() error{cfg.validateTokens, cfg.validateOTP, cfg.validateLimits, cfg.validatePasskeys, cfg.validatePasswords, cfg.validateOAuth} {
		if err := rule(); err != nil {
			return nil, err
		}
	}
	if v := cfg.VerificationMaxLifetime; v < 0 || (v > 0 && v < time.Second) {
		return nil, errors.New("custom_steps: max_lifetime must be at least 1s")
	}
	steps, err := NewStepRegistry(cfg.CustomStepKeys, cfg.Passkeys != nil)
	if err != nil {
		return nil, fmt.Errorf("custom_steps: %v", err)
	}
	if err := cfg.validateScopes(steps); err != nil {
		return nil, err
	}
	if err := cfg.validateACR(steps); err != nil {
		return nil, err
	}
	return steps, nil
}

func (cfg *Config) validateTokens() error {
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return fmt.Errorf("leeway must be between 0 and %s", MaxLeeway)
	}
	if cfg.AccessTokenTTL < time.Second {
		return errors.New("access_token_ttl must be at least 1s")
	}
	if cfg.RefreshTokenTTL < time.Second {
		return errors.New("refresh_token_ttl must be at least 1s")
	}
	for _, typ := range cfg.LoginIdentifiers {
		if typ != IdentifierPhone && typ != IdentifierEmail {
			return fmt.Errorf("login otp: unknown identifier type %q (want %s or %s)", typ, IdentifierPhone, IdentifierEmail)
		}
	}
	return nil
}

func (cfg *Config) validateOTP() error {
	o := cfg.OTP
	if o.TTL < 0 || o.TTL > maxOTPTTL {
		return fmt.Errorf("otp: ttl must be at most %s", "10m")
	}
	if o.Digits < otp.MinDigits || o.Digits > otp.MaxDigits {
		return fmt.Errorf("otp: digits must be %d to %d", otp.MinDigits, otp.MaxDigits)
	}
	if o.MaxAttempts < 0 || o.ResendCooldown < 0 || o.MaxResends < 0 || o.MaxPerHour < 0 || o.MaxUserFailures < 0 {
		return errors.New("otp: max_attempts, resend_cooldown, max_resends and max_per_hour must not be negative")
	}
	return nil
}

func (cfg *Config) validateLimits() error {
	words := cfg.Limits.byWord()
	for _, word := range slices.Sorted(maps.Keys(words)) {
		if r := *words[word]; r.Count < 1 || r.Window < time.Second {
			return fmt.Errorf("limits: %s: at least 1 per window of at least 1s", word)
		}
	}
	return nil
}

func (cfg *Config) validatePasskeys() error {
	if cfg.Passkeys == nil {
		return nil
	}
	if cfg.Issuer == "" {
		return errors.New("passkey needs `issuer`: the gateway mints the tokens of its sessions")
	}
	if err := cfg.Passkeys.Validate(); err != nil {
		return fmt.Errorf("passkey: %v", err)
	}
	return nil
}

// validatePasswords checks the password policy and argon2id's costs.
func (cfg *Config) validatePasswords() error {
	p := cfg.Passwords
	if p == nil {
		return nil
	}
	if cfg.Issuer == "" {
		return errors.New("login password needs `issuer`: the gateway mints the tokens of its sessions")
	}
	if p.ConcurrentHashes < 0 || p.ConcurrentHashes > maxConcurrentHashes {
		return fmt.Errorf("login password: concurrent_hashes 1 to %d", maxConcurrentHashes)
	}
	if err := p.Policy.Validate(); err != nil {
		return fmt.Errorf("login password: %v", err)
	}
	if err := p.Params.Validate(); err != nil {
		return fmt.Errorf("login password: %v", err)
	}
	return nil
}

// validateOAuth checks each OpenID provider's engine settings: its name
// (a path segment), the app URLs a ticket may be sent to, its acr words.
func (cfg *Config) validateOAuth() error {
	for _, name := range slices.Sorted(maps.Keys(cfg.OAuth)) {
		if err := cfg.validateProvider(name, cfg.OAuth[name]); err != nil {
			return fmt.Errorf("login oauth %s: %v", name, err)
		}
	}
	return nil
}

func (cfg *Config) validateProvider(name string, p OAuthLogin) error {
	if !ValidKey(name) || len(name) > maxProviderName {
		return fmt.Errorf("the name: letters, digits and . _ : - only, at most %d", maxProviderName)
	}
	if cfg.Issuer == "" {
		return errors.New("needs `issuer`: the gateway mints the tokens of its sessions")
	}
	if len(p.RedirectURIs) == 0 {
		return errors.New("redirect_uris is required: the app URLs the browser may be sent back to with the login ticket, " +
			"compared exactly (e.g. redirect_uris https://app.example.com/callback)")
	}
	for _, u := range p.RedirectURIs {
		if err := urlcheck.RedirectURI(u); err != nil {
			return fmt.Errorf("redirect_uris: %v", err)
		}
	}
	if p.ACR != "" && !ValidACR(p.ACR) {
		return fmt.Errorf("acr %q: printable ASCII, no space, quote or backslash", p.ACR)
	}
	for _, from := range slices.Sorted(maps.Keys(p.ACRMap)) {
		if to := p.ACRMap[from]; !ValidACR(from) || !ValidACR(to) {
			return fmt.Errorf("acr_map %q %q: printable ASCII, no space, quote or backslash", from, to)
		}
	}
	return nil
}

// validateScopes checks every scope's policy, and that a direct scope's
// steps are steps the engine can run.
func (cfg *Config) validateScopes(steps *StepRegistry) error {
	if len(cfg.Scopes) > 0 && cfg.Issuer == "" {
		return errors.New("scope blocks need `issuer`: the gateway mints the tokens that carry stepped-up scopes")
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Scopes)) {
		p := cfg.Scopes[name]
		if err := ValidateScope(name, p); err != nil {
			return fmt.Errorf("scope %s: %v", name, err)
		}
		if p.Direct == nil {
			continue
		}
		for _, st := range p.Direct.Steps {
			if !steps.Has(st.Key) {
				return fmt.Errorf("scope %s: direct: %w", name, unknownStepError(st.Key))
			}
		}
	}
	return nil
}

// ValidateScope checks a scope's name and policy (zero durations take
// their defaults). Whether a direct scope's steps exist is Validate's to
// say: it knows the custom steps and whether passkeys are on.
func ValidateScope(name string, p ScopePolicy) error {
	if !ValidKey(name) {
		return errors.New("scope names are made of letters, digits and . _ : -")
	}
	set := 0
	if p.HookURL != "" {
		set++
		if err := urlcheck.HTTP(p.HookURL); err != nil {
			return fmt.Errorf("delegated: %v", err)
		}
	}
	if p.Direct != nil {
		set++
		if err := p.Direct.withDefaults().validate(); err != nil {
			return fmt.Errorf("direct: %v", err)
		}
	}
	if p.Block {
		set++
	}
	if set != 1 {
		return errors.New("exactly one of delegated, direct or block is required")
	}
	return nil
}

// validate checks a direct policy (defaults applied) with the bounds of a
// hook's answer.
func (d DirectPolicy) validate() error {
	if len(d.Steps) == 0 {
		return errors.New("at least one step is required")
	}
	if len(d.Steps) > maxDirectSteps {
		return fmt.Errorf("at most %d steps", maxDirectSteps)
	}
	for i, st := range d.Steps {
		if !ValidKey(st.Key) {
			return fmt.Errorf("step key %q: letters, digits and . _ : - only", st.Key)
		}
		if slices.ContainsFunc(d.Steps[:i], func(o DirectStep) bool { return o.Key == st.Key }) {
			return fmt.Errorf("step %s is listed twice", st.Key)
		}
		if st.Expiration < time.Second || st.Expiration > maxDirectDuration {
			return fmt.Errorf("step %s: expiration must be between 1s and 24h", st.Key)
		}
	}
	if d.GrantedFor < time.Second || d.GrantedFor > maxDirectDuration {
		return errors.New("granted_for must be between 1s and 24h")
	}
	if d.GrantMode != GrantSingleUse && d.GrantMode != GrantSessionBound {
		return fmt.Errorf("grant_mode must be %s or %s", GrantSingleUse, GrantSessionBound)
	}
	return nil
}
