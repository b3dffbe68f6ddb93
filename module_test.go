package caddystepup

import (
	"strings"
	"testing"
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
