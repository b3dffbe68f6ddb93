package caddystepup

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Validate checks every setting, after Provision resolved placeholders and
// filled in defaults, and before Start acquires anything; it changes
// nothing.
func (a *App) Validate() error {
	for _, check := range []func() error{a.validateTokens, a.validateTrust, a.validatePasskey, a.validateSteps, a.validateLimits, a.validateStore, a.validateOTP, a.validateLogin, a.validateWebhooks} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) validateTokens() error {
	if a.Issuer != "" {
		if err := urlcheck.HTTP(a.Issuer); err != nil {
			return fmt.Errorf("issuer: %v", err)
		}
	}
	if a.ExternalURL != "" {
		if err := urlcheck.HTTP(a.ExternalURL); err != nil {
			return fmt.Errorf("external_url: %v", err)
		}
	}
	if time.Duration(a.Leeway) < 0 || time.Duration(a.Leeway) > maxLeeway {
		return fmt.Errorf("leeway must be between 0 and %s", maxLeeway)
	}
	for name, d := range map[string]time.Duration{"access_token_ttl": time.Duration(a.AccessTokenTTL), "refresh_token_ttl": time.Duration(a.RefreshTokenTTL)} {
		if d < time.Second {
			return fmt.Errorf("%s must be at least 1s", name)
		}
	}
	if a.TokenCacheSize < 0 {
		return errors.New("token_cache_size must not be negative")
	}
	for _, alg := range a.DPoPAlgorithms {
		if !slices.Contains(defaultDPoPAlgorithms, alg) {
			return fmt.Errorf("dpop_algorithms: %q is not one of %s", alg, strings.Join(defaultDPoPAlgorithms, " "))
		}
	}
	if _, err := enforce.NewHeaderStripper(a.strippedHeaders()); err != nil {
		return fmt.Errorf("strip_headers: %v", err)
	}
	return nil
}

func (a *App) validateTrust() error {
	seen := map[string]bool{a.Issuer: a.Issuer != ""}
	for i, t := range a.Trust {
		if t == nil || t.Issuer == "" {
			return fmt.Errorf("trust %d: issuer is required", i)
		}
		if seen[t.Issuer] {
			return fmt.Errorf("trust %s: issuer is configured twice", t.Issuer)
		}
		seen[t.Issuer] = true
		if err := urlcheck.HTTPSOrLoopback(t.JWKSURL); err != nil {
			return fmt.Errorf("trust %s: jwks_url: %v", t.Issuer, err)
		}
		if err := checkAlgorithms(t.Algorithms); err != nil {
			return fmt.Errorf("trust %s: %v", t.Issuer, err)
		}
		if time.Duration(t.RefreshInterval) < time.Second {
			return fmt.Errorf("trust %s: refresh_interval must be at least 1s", t.Issuer)
		}
	}
	return nil
}

// validateSteps checks custom steps and scopes against the step registry:
// a direct scope may only name steps the engine can run.
func (a *App) validateSteps() error {
	var customKeys []string
	if cs := a.CustomSteps; cs != nil {
		if err := urlcheck.HTTPSOrLoopback(cs.JWKSURL); err != nil {
			return fmt.Errorf("custom_steps: jwks_url: %v", err)
		}
		if err := checkAlgorithms(cs.Algorithms); err != nil {
			return fmt.Errorf("custom_steps: %v", err)
		}
		if cs.MaxLifetime < 0 || (cs.MaxLifetime > 0 && time.Duration(cs.MaxLifetime) < time.Second) {
			return errors.New("custom_steps: max_lifetime must be at least 1s")
		}
		customKeys = cs.Keys
	}
	steps, err := stepup.NewStepRegistry(customKeys, a.Passkey != nil)
	if err != nil {
		return fmt.Errorf("custom_steps: %v", err)
	}
	if len(a.Scopes) > 0 && a.Issuer == "" {
		return errors.New("scope blocks need `issuer`: the gateway mints the tokens that carry stepped-up scopes")
	}
	for name, s := range a.Scopes {
		if err := validateScope(name, s, steps); err != nil {
			return fmt.Errorf("scope %s: %v", name, err)
		}
	}
	return a.validateACR(steps)
}

// validateACR checks the acr words with the engine's own rules: values
// that stand in a header as they are, and no possession-based acr that
// nothing configured can earn.
func (a *App) validateACR(steps *stepup.StepRegistry) error {
	cfg := stepup.Config{LoginACR: a.LoginACR, PossessionACR: a.PossessionACR, Scopes: make(map[string]stepup.ScopePolicy, len(a.Scopes)),
		Passkeys: a.Passkey.passkeyPolicy()}
	if a.Login != nil {
		cfg.LoginIdentifiers = a.Login.OTP
		if pw := a.Login.Password; pw != nil {
			cfg.Passwords = pw.passwordLogin()
		}
		for name, o := range a.Login.OAuth {
			if o != nil {
				if cfg.OAuth == nil {
					cfg.OAuth = map[string]stepup.OAuthLogin{}
				}
				cfg.OAuth[name] = stepup.OAuthLogin{ACR: o.ACR, ACRMap: o.ACRMap}
			}
		}
	}
	for name, s := range a.Scopes {
		cfg.Scopes[name] = scopePolicy(s)
	}
	return cfg.ValidateACR(steps)
}

func (a *App) validateLimits() error {
	l := a.Limits
	if l == nil {
		return nil
	}
	for name, field := range l.limitWords() {
		if r := *field; r != nil && (r.Count < 1 || time.Duration(r.Window) < time.Second) {
			return fmt.Errorf("limits: %s: at least 1 per window of at least 1s", name)
		}
	}
	return nil
}

func (a *App) validateStore() error {
	st := a.Store
	if st == nil {
		return nil
	}
	switch st.Backend {
	case "", "memory":
		if st.MaxKeys != 0 && st.MaxKeys < 1000 {
			return errors.New("store: max_keys must be at least 1000")
		}
		if st.WaitReplicas != 0 || st.WaitTimeout != 0 {
			return errors.New("store: wait_replicas is for a redis store; the memory store has no replicas")
		}
		if st.MaxClockOffset != 0 {
			return errors.New("store: max_clock_offset is for a redis store; the memory store uses the instance's clock")
		}
		return nil
	case "redis":
	default:
		return fmt.Errorf("store: unknown backend %q (want memory or redis)", st.Backend)
	}
	if strings.ContainsAny(st.KeyPrefix, "{}") {
		return errors.New("store: key_prefix must not contain { or }")
	}
	if err := st.redisOptions().Validate(); err != nil {
		return fmt.Errorf("store: %v", err)
	}
	return nil
}

func (a *App) validateOTP() error {
	o := a.OTP
	if o == nil {
		return nil
	}
	if o.TTL < 0 || time.Duration(o.TTL) > 10*time.Minute {
		return errors.New("otp: ttl must be at most 10m")
	}
	if o.Digits != 0 && (o.Digits < 6 || o.Digits > 8) {
		return errors.New("otp: digits must be 6 to 8")
	}
	sc := o.Sender
	if sc == nil {
		return nil
	}
	switch sc.Kind {
	case "log":
	case "webhook":
		if err := urlcheck.HTTP(sc.URL); err != nil {
			return fmt.Errorf("otp sender webhook: %v", err)
		}
	case "smtp":
		if sc.Addr == "" || sc.From == "" {
			return errors.New("otp sender smtp: addr and from are required")
		}
	default:
		return fmt.Errorf("otp sender: unknown kind %q (want log, webhook or smtp)", sc.Kind)
	}
	return nil
}

func checkAlgorithms(algs []string) error {
	for _, alg := range algs {
		if !jose.Supported(alg) {
			return fmt.Errorf("algorithm %q not allowed (asymmetric signature algorithms only)", alg)
		}
	}
	return nil
}

// validateScope checks a scope block; steps may be nil at parse time
// (custom steps are then not yet known).
func validateScope(name string, s *Scope, steps *stepup.StepRegistry) error {
	if !stepup.ValidKey(name) {
		return errors.New("scope names are made of letters, digits and . _ : -")
	}
	if s == nil {
		return errors.New("one of delegated, direct or block is required")
	}
	set := 0
	if s.Delegated != "" {
		set++
		if err := urlcheck.HTTP(s.Delegated); err != nil {
			return fmt.Errorf("delegated: %v", err)
		}
	}
	if s.Direct != nil {
		set++
		if err := s.Direct.validate(steps); err != nil {
			return fmt.Errorf("direct: %v", err)
		}
	}
	if s.Block {
		set++
	}
	if set != 1 {
		return errors.New("exactly one of delegated, direct or block is required")
	}
	return nil
}

func (d *DirectScope) validate(steps *stepup.StepRegistry) error {
	if len(d.Steps) == 0 {
		return errors.New("at least one step is required")
	}
	for _, st := range d.Steps {
		if !stepup.ValidKey(st.Key) {
			return fmt.Errorf("step key %q: letters, digits and . _ : - only", st.Key)
		}
		if steps != nil && !steps.Has(st.Key) {
			return stepup.UnknownStepError(st.Key)
		}
		if d := time.Duration(st.Expiration); d != 0 && (d < time.Second || d > 24*time.Hour) {
			return fmt.Errorf("step %s: expiration must be between 1s and 24h", st.Key)
		}
	}
	if g := time.Duration(d.GrantedFor); g != 0 && (g < time.Second || g > 24*time.Hour) {
		return errors.New("granted_for must be between 1s and 24h")
	}
	if d.GrantMode != "" && d.GrantMode != grantSingleUse && d.GrantMode != grantSessionBound {
		return fmt.Errorf("grant_mode must be %s or %s", grantSingleUse, grantSessionBound)
	}
	return nil
}

// validateLogin checks the login methods: a password policy that can be
// met, argon2id costs within bounds, and what sign-ups need.
func (a *App) validateLogin() error {
	if a.Login == nil {
		return nil
	}
	for name, o := range a.Login.OAuth {
		if err := a.validateOAuth(name, o); err != nil {
			return fmt.Errorf("login oauth %s: %v", name, err)
		}
	}
	if a.Login.Password == nil {
		return nil
	}
	pw := a.Login.Password
	if a.Issuer == "" {
		return errors.New("login password needs `issuer`: the gateway mints the tokens of its sessions")
	}
	if a.OTP == nil || a.OTP.Sender == nil {
		return errors.New("login password needs an otp sender: a sign-up proves its email address with a code")
	}
	if ac := pw.Argon2id; ac != nil && (ac.Time < 1 || ac.Time > 10 || ac.MemoryKiB < 1 || ac.MemoryKiB > 1<<20 || ac.Threads < 1 || ac.Threads > 16) {
		return errors.New("login password: argon2id time 1 to 10, memory 8MiB to 1GiB, threads 1 to 16")
	}
	if pw.ConcurrentHashes < 0 || pw.ConcurrentHashes > maxConcurrentHashes {
		return fmt.Errorf("login password: concurrent_hashes 1 to %d", maxConcurrentHashes)
	}
	p := pw.passwordLogin()
	if err := p.Policy.Validate(); err != nil {
		return fmt.Errorf("login password: %v", err)
	}
	if err := p.Params.Validate(); err != nil {
		return fmt.Errorf("login password: %v", err)
	}
	return nil
}

// validateOAuth checks one OpenID provider's block.
func (a *App) validateOAuth(name string, o *OAuthConfig) error {
	if !stepup.ValidKey(name) || len(name) > 64 {
		return errors.New("the name: letters, digits and . _ : - only")
	}
	if o == nil || o.ClientID == "" {
		return errors.New("client_id is required")
	}
	if a.Issuer == "" {
		return errors.New("needs `issuer`: the gateway mints the tokens of its sessions")
	}
	if err := urlcheck.HTTPSOrLoopback(o.Issuer); err != nil {
		return fmt.Errorf("issuer: %v", err)
	}
	if strings.ContainsAny(o.Issuer, "{} ") {
		return errors.New("issuer: no braces or spaces")
	}
	if len(o.RedirectURIs) == 0 {
		return errors.New("redirect_uris is required: the app URLs the browser may be sent back to with the login ticket, " +
			"compared exactly (e.g. redirect_uris https://app.example.com/callback)")
	}
	for _, u := range o.RedirectURIs {
		if err := urlcheck.RedirectURI(u); err != nil {
			return fmt.Errorf("redirect_uris: %v", err)
		}
	}
	for _, s := range o.Scopes {
		if !stepup.ValidKey(s) {
			return fmt.Errorf("scopes: %q", s)
		}
	}
	if o.ACR != "" && !stepup.ValidACR(o.ACR) {
		return fmt.Errorf("acr %q: printable ASCII, no space, quote or backslash", o.ACR)
	}
	for from, to := range o.ACRMap {
		if !stepup.ValidACR(from) || !stepup.ValidACR(to) {
			return fmt.Errorf("acr_map %q %q: printable ASCII, no space, quote or backslash", from, to)
		}
	}
	return nil
}
