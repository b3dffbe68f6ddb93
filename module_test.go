package caddystepup

import (
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestValidateRefusesKeySetsOverPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  App
		want string
	}{
		{"trust off loopback", App{Leeway: 1, Trust: []*Trust{{Issuer: "https://idp", JWKSURL: "http://idp.example.com/jwks"}}}, "must use https"},
		{"custom steps off loopback", App{Leeway: 1, CustomSteps: &CustomStepsConfig{JWKSURL: "http://backend.example.com/jwks"}}, "custom_steps: jwks_url"},
		{"custom steps not a URL", App{Leeway: 1, CustomSteps: &CustomStepsConfig{JWKSURL: "jwks.json"}}, "not an absolute URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.app.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	ok := App{Leeway: 1, CustomSteps: &CustomStepsConfig{JWKSURL: "http://127.0.0.1:9/jwks.json"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("loopback http refused: %v", err)
	}
}

// TestBindNeedsASingleUseGrant: bind compares a body with the transaction
// a single-use grant approved; where none can be issued, the config fails.
func TestBindNeedsASingleUseGrant(t *testing.T) {
	app := testApp(t)
	app.Scopes = map[string]*Scope{
		"transfer:write": {Delegated: "https://hooks.test/stepup"},
		"pay:once":       {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}, GrantMode: grantSingleUse}},
		"pay:default":    {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}}},
		"profile:write":  {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}, GrantMode: grantSessionBound}},
		"admin:all":      {Block: true},
	}
	for _, tc := range []struct {
		name    string
		h       Handler
		wantErr string
	}{
		{"delegated", Handler{Scopes: []string{"transfer:write"}, Bind: []string{"amount"}}, ""},
		{"direct single-use", Handler{Scopes: []string{"pay:once"}, Bind: []string{"amount"}}, ""},
		{"direct default mode", Handler{Scopes: []string{"pay:default"}, Bind: []string{"amount"}}, ""},
		{"any of two single-use", Handler{Scopes: []string{"pay:once", "transfer:write"}, Any: true, Bind: []string{"amount"}}, ""},
		{"no scope", Handler{Bind: []string{"amount"}}, "needs the scopes"},
		{"session-bound", Handler{Scopes: []string{"profile:write"}, Bind: []string{"amount"}}, "not single-use"},
		{"blocked", Handler{Scopes: []string{"admin:all"}, Bind: []string{"amount"}}, "blocked"},
		{"no scope block", Handler{Scopes: []string{"payments:read"}, Bind: []string{"amount"}}, "no `scope` block"},
		{"any with a session-bound one", Handler{Scopes: []string{"pay:once", "profile:write"}, Any: true, Bind: []string{"amount"}}, "not single-use"},
		{"bad field name", Handler{Scopes: []string{"pay:once"}, Bind: []string{"a b"}}, "field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.logger = zap.NewNop()
			if err := h.setup(app); err != nil {
				t.Fatal(err)
			}
			err := h.Validate()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want it to say %q", err, tc.wantErr)
			}
		})
	}
	gatewayless := testApp(t)
	gatewayless.Issuer = ""
	gatewayless.Scopes = app.Scopes
	h := Handler{Scopes: []string{"pay:once"}, Bind: []string{"amount"}, logger: zap.NewNop()}
	if err := h.setup(gatewayless); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Errorf("bind on a gateway that mints no tokens: %v", err)
	}
}

func TestValidateRefusesUnknownDPoPAlgorithmsAndHeaderPatterns(t *testing.T) {
	for _, app := range []*App{
		{DPoPAlgorithms: []string{"HS256"}},
		{DPoPAlgorithms: []string{"none"}},
		{StripHeaders: []string{"X Bad"}},
		{StripHeaders: []string{"*"}},
	} {
		if err := app.Validate(); err == nil {
			t.Errorf("%+v passed Validate", app)
		}
	}
}
