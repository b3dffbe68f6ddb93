package stepup

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/password"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// refusingVerifier stands in for the challenge verifier New needs.
type refusingVerifier struct{}

func (refusingVerifier) Verify(context.Context, string) (*jwks.Claims, error) {
	return nil, errors.New("not a token")
}

// TestConfigDefaults: WithDefaults fills in every unset setting with the
// defaults the README promises, and changes nothing the caller shares.
func TestConfigDefaults(t *testing.T) {
	direct := &DirectPolicy{Steps: []DirectStep{{Key: StepVerifySMS}}}
	in := Config{Issuer: "https://gw.test", Passwords: &PasswordLogin{}, Passkeys: &PasskeyPolicy{RPID: "gw.test"},
		Scopes: map[string]ScopePolicy{"pay": {Direct: direct}}}
	d := in.WithDefaults()
	if d.Audience != "https://gw.test" || d.LoginACR != DefaultLoginACR || d.AccessTokenTTL != 15*time.Minute || d.Leeway != 30*time.Second ||
		d.RefreshTokenTTL != 720*time.Hour || d.RefreshGrace != 20*time.Second || d.UserTTL != 400*24*time.Hour {
		t.Errorf("token defaults: %+v", d)
	}
	if o := d.OTP; o.Digits != 6 || o.TTL != 5*time.Minute || o.MaxAttempts != 5 || o.ResendCooldown != 30*time.Second || o.MaxResends != 3 ||
		o.MaxPerHour != 10 || o.MaxUserFailures != 100 {
		t.Errorf("otp defaults: %+v", o)
	}
	if l := d.Limits; l.ClientUnprovenSends != (Rate{20, time.Hour}) || l.ClientDestinationSends != (Rate{4, time.Hour}) ||
		l.ClientSends != (Rate{3000, time.Hour}) || l.ClientUnfinishedLogins != (Rate{10, 10 * time.Minute}) ||
		l.ClientLoginStarts != (Rate{3000, time.Hour}) || l.LoginStarts != (Rate{600, time.Minute}) || l.Sends != (Rate{600, time.Minute}) {
		t.Errorf("limits defaults: %+v", l)
	}
	if p := d.Passwords; p.Params != password.DefaultParams || p.ACR != DefaultPasswordACR || p.Policy.MinLength != 15 || p.Policy.MaxLength != 128 {
		t.Errorf("password defaults: %+v", p)
	}
	if p := d.Passkeys; p.UserVerification != UVRequired || p.Attestation != AttestationNone {
		t.Errorf("passkey defaults: %+v", p)
	}
	if p := d.Scopes["pay"].Direct; p.GrantedFor != 5*time.Minute || p.GrantMode != GrantSingleUse || p.Steps[0].Expiration != 5*time.Minute {
		t.Errorf("direct scope defaults: %+v", p)
	}
	// What the caller holds is as it was.
	if in.Passwords.ACR != "" || in.Passkeys.UserVerification != "" || direct.GrantMode != "" || direct.Steps[0].Expiration != 0 || in.Audience != "" {
		t.Errorf("WithDefaults changed its input: %+v %+v %+v", in.Passwords, in.Passkeys, direct)
	}
	// A longer minimum raises the maximum's default; a rate set in part
	// is not completed.
	d = Config{Passwords: &PasswordLogin{Policy: password.Policy{MinLength: 200}}, Limits: RateLimits{Sends: Rate{Count: 5}}}.WithDefaults()
	if d.Passwords.Policy.MaxLength != 200 || d.Limits.Sends != (Rate{Count: 5}) {
		t.Errorf("max_length %d, sends %+v", d.Passwords.Policy.MaxLength, d.Limits.Sends)
	}
}

// TestConfigValidate: every rule of the settings, with the words an
// operator wrote; the rules New applies are the same.
func TestConfigValidate(t *testing.T) {
	valid := func(change func(*Config)) Config {
		c := Config{Issuer: "https://gw.test", LoginIdentifiers: []string{IdentifierPhone},
			Scopes: map[string]ScopePolicy{"pay": {Direct: &DirectPolicy{Steps: []DirectStep{{Key: StepVerifySMS}}}}}}
		change(&c)
		return c
	}
	if err := valid(func(*Config) {}).Validate(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("an empty config (no engine features): %v", err)
	}
	direct := func(d DirectPolicy) func(*Config) {
		return func(c *Config) { c.Scopes["pay"] = ScopePolicy{Direct: &d} }
	}
	sms := []DirectStep{{Key: StepVerifySMS}}
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string
	}{
		"leeway over 60s":          {func(c *Config) { c.Leeway = 61 * time.Second }, "leeway"},
		"negative leeway":          {func(c *Config) { c.Leeway = -time.Second }, "leeway"},
		"sub-second access tokens": {func(c *Config) { c.AccessTokenTTL = time.Millisecond }, "access_token_ttl"},
		"negative refresh tokens":  {func(c *Config) { c.RefreshTokenTTL = -time.Hour }, "refresh_token_ttl"},
		"unknown identifier":       {func(c *Config) { c.LoginIdentifiers = []string{"username"} }, "unknown identifier type"},
		"otp ttl of 11m":           {func(c *Config) { c.OTP.TTL = 11 * time.Minute }, "otp: ttl"},
		"otp of 5 digits":          {func(c *Config) { c.OTP.Digits = 5 }, "otp: digits"},
		"otp of 9 digits":          {func(c *Config) { c.OTP.Digits = 9 }, "otp: digits"},
		"negative resends":         {func(c *Config) { c.OTP.MaxResends = -1 }, "must not be negative"},
		"a rate without window":    {func(c *Config) { c.Limits.ClientUnprovenSends = Rate{Count: 1} }, "client_unproven_sends"},
		"a rate of zero":           {func(c *Config) { c.Limits.Sends = Rate{Window: time.Hour} }, "limits: sends"},
		"sub-second max_lifetime":  {func(c *Config) { c.VerificationMaxLifetime = time.Millisecond }, "max_lifetime"},
		"custom step named sms":    {func(c *Config) { c.CustomStepKeys = []string{StepVerifySMS} }, "runs this step itself"},
		"scopes without issuer":    {func(c *Config) { c.Issuer = "" }, "need `issuer`"},
		"scope name with a space":  {func(c *Config) { c.Scopes["a b"] = ScopePolicy{Block: true} }, "scope names"},
		"scope of no kind":         {func(c *Config) { c.Scopes["a"] = ScopePolicy{} }, "exactly one of"},
		"scope of two kinds":       {func(c *Config) { c.Scopes["a"] = ScopePolicy{Block: true, HookURL: "https://b.test/h"} }, "exactly one of"},
		"hook not a URL":           {func(c *Config) { c.Scopes["a"] = ScopePolicy{HookURL: "hooks/stepup"} }, "delegated"},
		"direct without steps":     {direct(DirectPolicy{}), "at least one step"},
		"direct of 11 steps":       {direct(DirectPolicy{Steps: make([]DirectStep, 11)}), "at most 10 steps"},
		"direct step listed twice": {direct(DirectPolicy{Steps: append(sms, sms...)}), "listed twice"},
		"direct step bad key":      {direct(DirectPolicy{Steps: []DirectStep{{Key: "a b"}}}), "step key"},
		"direct unknown step":      {direct(DirectPolicy{Steps: []DirectStep{{Key: "verify_mail"}}}), `step "verify_mail" is neither`},
		"passkey step, no passkey": {direct(DirectPolicy{Steps: []DirectStep{{Key: StepVerifyPasskey}}}), "needs a passkey block"},
		"sub-second expiration":    {direct(DirectPolicy{Steps: []DirectStep{{Key: StepVerifySMS, Expiration: time.Millisecond}}}), "expiration"},
		"expiration of 25h":        {direct(DirectPolicy{Steps: []DirectStep{{Key: StepVerifySMS, Expiration: 25 * time.Hour}}}), "expiration"},
		"sub-second granted_for":   {direct(DirectPolicy{Steps: sms, GrantedFor: 500 * time.Millisecond}), "granted_for"},
		"granted_for of 25h":       {direct(DirectPolicy{Steps: sms, GrantedFor: 25 * time.Hour}), "granted_for"},
		"grant mode forever":       {direct(DirectPolicy{Steps: sms, GrantMode: "forever"}), "grant_mode"},
		"passkey without issuer":   {func(c *Config) { c.Issuer, c.Scopes = "", nil; c.Passkeys = &PasskeyPolicy{RPID: "gw.test"} }, "passkey needs `issuer`"},
		"passkey rp_id":            {func(c *Config) { c.Passkeys = &PasskeyPolicy{RPID: "https://gw.test"} }, "passkey: rp_id"},
		"password without issuer":  {func(c *Config) { c.Issuer, c.Scopes = "", nil; c.Passwords = &PasswordLogin{} }, "login password needs `issuer`"},
		"257 hashes at once":       {func(c *Config) { c.Passwords = &PasswordLogin{ConcurrentHashes: 257} }, "concurrent_hashes"},
		"password max below min": {func(c *Config) {
			c.Passwords = &PasswordLogin{Policy: password.Policy{MinLength: 20, MaxLength: 10}}
		}, "password policy"},
		"argon2id of 255 threads": {func(c *Config) {
			c.Passwords = &PasswordLogin{Params: password.Params{Time: 1, MemoryKiB: 65536, Threads: 255}}
		}, "argon2id"},
		"provider without issuer": {func(c *Config) {
			c.Issuer, c.Scopes = "", nil
			c.OAuth = map[string]OAuthLogin{"okta": {RedirectURIs: []string{"https://app.test/cb"}}}
		}, "login oauth okta: needs `issuer`"},
		"provider name":            {func(c *Config) { c.OAuth = map[string]OAuthLogin{"ok ta": {}} }, "the name"},
		"provider name of 65":      {func(c *Config) { c.OAuth = map[string]OAuthLogin{strings.Repeat("a", 65): {}} }, "the name"},
		"provider without returns": {func(c *Config) { c.OAuth = map[string]OAuthLogin{"okta": {}} }, "redirect_uris is required"},
		"provider redirect, fragment": {func(c *Config) {
			c.OAuth = map[string]OAuthLogin{"okta": {RedirectURIs: []string{"https://app.test/cb#"}}}
		}, "fragment"},
		"provider acr_map space": {func(c *Config) {
			c.OAuth = map[string]OAuthLogin{"okta": {RedirectURIs: []string{"https://app.test/cb"}, ACRMap: map[string]string{"urn:a": "urn:b c"}}}
		}, "acr_map"},
		"login acr with a space": {func(c *Config) { c.LoginACR = "urn:a b" }, "printable ASCII"},
	} {
		cfg := valid(tc.change)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", name, err, tc.want)
		}
		signer := mustSigner(t)
		cfg.Signer, cfg.Store, cfg.ChallengeVerifier, cfg.HookSigner = signer, store.NewMemory(), refusingVerifier{}, signer
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted what Validate refuses", name)
		}
	}
}
