package appconfig

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// TestSetDefaults: the app's own defaults are filled in where a word is
// missing, a word written is kept, and a second call changes nothing.
func TestSetDefaults(t *testing.T) {
	c := &Config{Issuer: "https://gw.test", ExternalURL: "https://App.Example.com:8443/base",
		Trust:       []*Trust{{Issuer: "https://idp"}, nil, {Issuer: "https://idp2", Algorithms: []string{"PS256"}, RefreshInterval: Duration(time.Minute)}},
		CustomSteps: &CustomStepsConfig{JWKSURL: "https://b.test/jwks"},
		Webhooks:    &WebhooksConfig{},
		Passkey:     &PasskeyConfig{},
		Login:       &LoginConfig{OTP: []string{stepup.IdentifierPhone}},
	}
	c.SetDefaults()
	if c.TokenCacheSize != DefaultTokenCacheSize || c.HookAlgorithm != HookES256 || c.Webhooks.AppID != "https://gw.test" {
		t.Errorf("token cache %d, hook %q, app_id %q", c.TokenCacheSize, c.HookAlgorithm, c.Webhooks.AppID)
	}
	if t0 := c.Trust[0]; !reflect.DeepEqual(t0.Algorithms, []string{"RS256", "ES256"}) || time.Duration(t0.RefreshInterval) != DefaultJWKSRefresh ||
		time.Duration(t0.MaxTokenLifetime) != DefaultMaxTokenLifetime {
		t.Errorf("trust defaults: %+v", t0)
	}
	if t2 := c.Trust[2]; !reflect.DeepEqual(t2.Algorithms, []string{"PS256"}) || t2.RefreshInterval != Duration(time.Minute) {
		t.Errorf("trust words written were changed: %+v", t2)
	}
	if !reflect.DeepEqual(c.CustomSteps.Algorithms, []string{"RS256"}) {
		t.Errorf("custom steps algorithms: %v", c.CustomSteps.Algorithms)
	}
	if r := c.Revocation; r == nil || time.Duration(r.PollInterval) != revocation.DefaultPollInterval ||
		time.Duration(r.MaxStaleness) != revocation.DefaultMaxStaleness || r.MaxEntries != revocation.DefaultMaxEntries {
		t.Errorf("revocation defaults: %+v", c.Revocation)
	}
	p := c.Passkey
	if p.RPID != "app.example.com" || p.RPName != "app.example.com" || !reflect.DeepEqual(p.AllowedOrigins, []string{"https://app.example.com:8443"}) {
		t.Errorf("passkey defaults: %+v", p)
	}
	w := c.Scopes[stepup.PasskeyWriteScope]
	if !c.DefaultWriteScope() || w == nil || w.Direct == nil || w.Direct.Steps[0].Key != stepup.StepVerifySMS {
		t.Errorf("enrolment scope: %v %+v", c.DefaultWriteScope(), w)
	}
	once, _ := json.Marshal(c)
	c.SetDefaults()
	if twice, _ := json.Marshal(c); string(twice) != string(once) {
		t.Errorf("a second call changed the config:\n%s\n%s", once, twice)
	}
	// A slow poll makes the staleness bound twice the poll, not 10s.
	slow := &Config{Revocation: &RevocationConfig{PollInterval: Duration(30 * time.Second)}}
	slow.SetDefaults()
	if time.Duration(slow.Revocation.MaxStaleness) != time.Minute {
		t.Errorf("max_staleness after a 30s poll: %v", time.Duration(slow.Revocation.MaxStaleness))
	}
}

// TestValidateRevocation: the revocation block's bounds, and the trusted
// issuers' max_token_lifetime with the engine's default leeway added.
func TestValidateRevocation(t *testing.T) {
	for name, tc := range map[string]struct {
		c    Config
		want string
	}{
		"defaults":          {Config{}, ""},
		"poll too fast":     {Config{Revocation: &RevocationConfig{PollInterval: Duration(time.Millisecond)}}, "poll_interval must be between"},
		"poll too slow":     {Config{Revocation: &RevocationConfig{PollInterval: Duration(2 * time.Minute)}}, "poll_interval must be between"},
		"stale below twice": {Config{Revocation: &RevocationConfig{PollInterval: Duration(time.Second), MaxStaleness: Duration(time.Second)}}, "max_staleness"},
		"stale over 1h":     {Config{Revocation: &RevocationConfig{MaxStaleness: Duration(2 * time.Hour)}}, "max_staleness"},
		"negative entries":  {Config{Revocation: &RevocationConfig{MaxEntries: -1}}, "max_entries must be positive"},
		"lifetime under 1s": {Config{Trust: []*Trust{{Issuer: "https://idp", MaxTokenLifetime: Duration(time.Millisecond)}}}, "max_token_lifetime"},
		"lifetime plus leeway over the bound": {Config{Trust: []*Trust{{Issuer: "https://idp",
			MaxTokenLifetime: Duration(revocation.MaxDuration - 29*time.Second)}}}, "max_token_lifetime must be between 1s and"},
		"lifetime plus leeway at the bound": {Config{Trust: []*Trust{{Issuer: "https://idp",
			MaxTokenLifetime: Duration(revocation.MaxDuration - 30*time.Second)}}}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.c
			c.SetDefaults()
			err := c.validateRevocation()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("validateRevocation = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestResolvePlaceholders: every field that may hold a placeholder is
// given to the resolver, and only those.
func TestResolvePlaceholders(t *testing.T) {
	c := &Config{Issuer: "{i}", Audience: "{a}", SigningKey: "{k}", ExternalURL: "{e}", WebhookSigningKey: "{w}", LoginACR: "{not}",
		Trust:       []*Trust{{Issuer: "{ti}", JWKSURL: "{tj}"}, nil},
		CustomSteps: &CustomStepsConfig{JWKSURL: "{cj}", Issuer: "{ci}"},
		Scopes:      map[string]*Scope{"s": {Delegated: "{sd}"}, "n": nil},
		Store:       &StoreConfig{URL: "{su}", Username: "{sn}", Password: "{sp}", Addrs: []string{"{sa}"}},
		OTP:         &OTPConfig{Sender: &SenderConfig{URL: "{ou}", Secret: "{os}", Addr: "{oa}", From: "{of}", Username: "{on}", Password: "{op}"}},
		Management:  &ManagementConfig{Key: "{mk}"},
		Login:       &LoginConfig{OAuth: map[string]*OAuthConfig{"g": {Issuer: "{gi}", ClientID: "{gc}", ClientSecret: "{gs}"}, "n": nil}},
		Webhooks:    &WebhooksConfig{AppID: "{wa}", Endpoints: []*WebhookEndpoint{{URL: "{wu}", Secret: "{ws}"}, nil}},
	}
	c.ResolvePlaceholders(func(s string) string {
		if s == "{ws}" {
			return "" // an unset variable
		}
		return strings.Trim(s, "{}")
	})
	b, _ := json.Marshal(c)
	// Only the literal "{not}" keeps its braces: the one value that is no
	// placeholder.
	if strings.Count(string(b), "{not}") != 1 || strings.Count(string(b), `"{`) != 1 {
		t.Errorf("placeholders left or resolved where none may be: %s", b)
	}
	if !c.Webhooks.Endpoints[0].secretLost || c.Validate() == nil {
		t.Error("a webhook secret resolved to nothing was not noted")
	}
}
