package appconfig

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/password"
)

// TestEngineConfig: the engine's settings are the app's config words,
// mapped one by one; nothing of the app changes, nothing is acquired
// (no signer, store, sender, verifier or provider), and no default is
// set here (the engine's own apply, in WithDefaults).
func TestEngineConfig(t *testing.T) {
	app := &Config{Issuer: "https://gw.test", Audience: "gw", LoginACR: "urn:l", PossessionACR: []string{"urn:p"},
		AccessTokenTTL: Duration(time.Minute), RefreshTokenTTL: Duration(time.Hour), Leeway: Duration(time.Second),
		Login: &LoginConfig{OTP: []string{"phone_number"},
			Password: &PasswordConfig{MinLength: 12, MaxLength: 64, Numbers: 1, Argon2id: &Argon2idConfig{Time: 2, MemoryKiB: 65536, Threads: 3}, ConcurrentHashes: 4, ACR: "urn:pw"},
			OAuth: map[string]*OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", ClientSecret: "s", RedirectURIs: []string{"https://app.test/cb"},
				ACR: "urn:o", ACRMap: map[string]string{"a": "b"}, TrustVerifiedIdentifiers: true}}},
		Limits: &LimitsConfig{Sends: &RateConfig{Count: 7, Window: Duration(time.Minute)}},
		OTP: &OTPConfig{Digits: 8, TTL: Duration(2 * time.Minute), MaxAttempts: 3, ResendCooldown: Duration(time.Second), MaxResends: 2, MaxPerHour: 9,
			Sender: &SenderConfig{Kind: "log"}},
		Scopes: map[string]*Scope{
			"pay":   {ACR: "urn:p", Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms", Expiration: Duration(time.Minute)}, {Key: "kyc"}}, GrantedFor: Duration(time.Hour), GrantMode: "session-bound"}},
			"hook":  {Delegated: "https://b.test/hook"},
			"admin": {Block: true},
		},
		CustomSteps: &CustomStepsConfig{JWKSURL: "https://b.test/jwks", Keys: []string{"kyc"}, MaxLifetime: Duration(10 * time.Minute)},
		Passkey:     &PasskeyConfig{RPID: "gw.test", RPName: "GW", AllowedOrigins: []string{"https://gw.test"}, LoginEnabled: true, ACR: "phr", HardwareACR: "phrh"},
	}
	before, _ := json.Marshal(app)
	cfg := app.EngineConfig()
	if after, _ := json.Marshal(app); string(after) != string(before) {
		t.Fatalf("EngineConfig changed the app:\n%s\n%s", before, after)
	}
	if again := app.EngineConfig(); !reflect.DeepEqual(cfg, again) {
		t.Fatalf("two calls, two configs:\n%+v\n%+v", cfg, again)
	}
	want := stepup.Config{Issuer: "https://gw.test", Audience: "gw", LoginACR: "urn:l", PossessionACR: []string{"urn:p"},
		AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour, Leeway: time.Second, LoginIdentifiers: []string{"phone_number"},
		Passwords: &stepup.PasswordLogin{Policy: password.Policy{MinLength: 12, MaxLength: 64, Numbers: 1},
			Params: password.Params{Time: 2, MemoryKiB: 65536, Threads: 3}, ConcurrentHashes: 4, ACR: "urn:pw"},
		OAuth: map[string]stepup.OAuthLogin{"okta": {Issuer: "https://idp.test", RedirectURIs: []string{"https://app.test/cb"},
			ACR: "urn:o", ACRMap: map[string]string{"a": "b"}, TrustVerifiedIdentifiers: true}},
		Limits: stepup.RateLimits{Sends: stepup.Rate{Count: 7, Window: time.Minute}},
		OTP:    stepup.OTPPolicy{Digits: 8, TTL: 2 * time.Minute, MaxAttempts: 3, ResendCooldown: time.Second, MaxResends: 2, MaxPerHour: 9},
		Scopes: map[string]stepup.ScopePolicy{
			"pay": {ACR: "urn:p", Direct: &stepup.DirectPolicy{Steps: []stepup.DirectStep{{Key: "verify_sms", Expiration: time.Minute}, {Key: "kyc"}},
				GrantedFor: time.Hour, GrantMode: "session-bound"}},
			"hook":  {HookURL: "https://b.test/hook"},
			"admin": {Block: true},
		},
		CustomStepKeys: []string{"kyc"}, VerificationMaxLifetime: 10 * time.Minute,
		Passkeys: &stepup.PasskeyPolicy{RPID: "gw.test", RPName: "GW", Origins: []string{"https://gw.test"}, Login: true, ACR: "phr", HardwareACR: "phrh"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("EngineConfig:\n got %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the engine refuses it: %v", err)
	}
	// An empty app gives an empty config: every default is the engine's.
	if got := (&Config{}).EngineConfig(); !reflect.DeepEqual(got, stepup.Config{}) {
		t.Errorf("an empty app: %+v", got)
	}
	// Costs out of their types' range stay out of the engine's bounds.
	big := (&PasswordConfig{Argon2id: &Argon2idConfig{Time: -1, MemoryKiB: 1 << 40, Threads: 257}}).passwordLogin().Params
	if big.Time != 0 || big.MemoryKiB != 1<<32-1 || big.Threads != 255 || big.Validate() == nil {
		t.Errorf("argon2id out of range: %+v", big)
	}
}
