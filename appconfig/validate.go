package appconfig

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Validate checks every setting, after placeholders were resolved and
// defaults filled in (the app's Provision), and before anything is
// acquired (its Start); it changes nothing. The app's own settings are
// checked here; the engine's by the engine's own rules
// (stepup.Config.Validate), on the config EngineConfig gives it.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateTokens, c.validateTrust, c.validatePasskey, c.validateCustomSteps,
		c.validateStore, c.validateOTP, c.validateLogin, c.validateWebhooks, c.validateRevocation, c.EngineConfig().Validate} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateTokens() error {
	if c.Issuer != "" {
		if err := urlcheck.HTTP(c.Issuer); err != nil {
			return fmt.Errorf("issuer: %v", err)
		}
	}
	if c.ExternalURL != "" {
		if err := urlcheck.HTTP(c.ExternalURL); err != nil {
			return fmt.Errorf("external_url: %v", err)
		}
	}
	if c.TokenCacheSize < 0 {
		return errors.New("token_cache_size must not be negative")
	}
	for _, alg := range c.DPoPAlgorithms {
		if !slices.Contains(DefaultDPoPAlgorithms, alg) {
			return fmt.Errorf("dpop_algorithms: %q is not one of %s", alg, strings.Join(DefaultDPoPAlgorithms, " "))
		}
	}
	if _, err := enforce.NewHeaderStripper(c.StrippedHeaders()); err != nil {
		return fmt.Errorf("strip_headers: %v", err)
	}
	return nil
}

func (c *Config) validateTrust() error {
	seen := map[string]bool{c.Issuer: c.Issuer != ""}
	for i, t := range c.Trust {
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

// validateCustomSteps checks where the keys of custom steps' verification
// tokens come from; their names are the engine's to check.
func (c *Config) validateCustomSteps() error {
	cs := c.CustomSteps
	if cs == nil {
		return nil
	}
	if err := urlcheck.HTTPSOrLoopback(cs.JWKSURL); err != nil {
		return fmt.Errorf("custom_steps: jwks_url: %v", err)
	}
	if err := checkAlgorithms(cs.Algorithms); err != nil {
		return fmt.Errorf("custom_steps: %v", err)
	}
	return nil
}

// ValidateEngine checks what the app would give the engine, with the
// engine's rules, and where custom steps' keys come from: what the
// management calls check of a candidate config.
func (c *Config) ValidateEngine() error {
	if err := c.validateCustomSteps(); err != nil {
		return err
	}
	return c.EngineConfig().Validate()
}

func (c *Config) validateStore() error {
	st := c.Store
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
	if err := st.RedisOptions().Validate(); err != nil {
		return fmt.Errorf("store: %v", err)
	}
	return nil
}

func (c *Config) validateOTP() error {
	o := c.OTP
	if o == nil {
		return nil
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

// validateLogin checks what the Caddy side makes of the login methods:
// each OpenID provider's client, and the sender a sign-up needs.
func (c *Config) validateLogin() error {
	if c.Login == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(c.Login.OAuth)) {
		if err := validateOAuthClient(c.Login.OAuth[name]); err != nil {
			return fmt.Errorf("login oauth %s: %v", name, err)
		}
	}
	if c.Login.Password != nil && (c.OTP == nil || c.OTP.Sender == nil) {
		return errors.New("login password needs an otp sender: a sign-up proves its email address with a code")
	}
	return nil
}

// validateOAuthClient checks how the gateway reaches one OpenID provider
// (discovery, its client); the engine checks the rest of the block.
func validateOAuthClient(o *OAuthConfig) error {
	if o == nil || o.ClientID == "" {
		return errors.New("client_id is required")
	}
	if err := urlcheck.HTTPSOrLoopback(o.Issuer); err != nil {
		return fmt.Errorf("issuer: %v", err)
	}
	if strings.ContainsAny(o.Issuer, "{} ") {
		return errors.New("issuer: no braces or spaces")
	}
	for _, s := range o.Scopes {
		if !stepup.ValidKey(s) {
			return fmt.Errorf("scopes: %q", s)
		}
	}
	return nil
}
