package caddystepup

import (
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

const (
	acrPhone = "urn:stepup:phone"
	acrHWK   = "urn:stepup:hwk"
)

// acrApp: payouts:write earns acrPhone, profile:write the login's acr,
// kyc:write acrPhone too (not on the route), admin is blocked.
func acrApp(t *testing.T) *App {
	app := testApp(t)
	direct := &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms"}}}
	app.LoginACR = "urn:stepup:otp"
	app.Scopes = map[string]*appconfig.Scope{
		"payouts:write": {Direct: direct, ACR: acrPhone},
		"profile:write": {Direct: direct},
		"kyc:write":     {Direct: direct, ACR: acrPhone},
		"admin":         {Block: true},
	}
	return app
}

const caddy5m = 5 * 60 * 1_000_000_000

// TestAuthenticationRefusalsAtTheHandler: a whole request; the upstream
// never sees a refused one, and an invalid token stays invalid_token.
func TestAuthenticationRefusalsAtTheHandler(t *testing.T) {
	app := acrApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payouts:write"}, ACR: []string{acrPhone}, MaxAge: caddy5m}})
	fresh := func(acr any) string {
		return mintToken(t, app, func(c map[string]any) {
			c["scope"], c["acr"], c["auth_time"] = "payouts:write", acr, time.Now().Unix()
		})
	}
	rec, seen := serve(t, h, request("GET", "/payouts", "Bearer "+fresh(acrPhone)))
	if rec.Code != 200 || seen.calls != 1 {
		t.Fatalf("a fresh %s token: %d %s", acrPhone, rec.Code, rec.Body)
	}
	rec, seen = serve(t, h, request("GET", "/payouts", "Bearer "+fresh("urn:stepup:otp")))
	assertRefused(t, rec, seen, 401, `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone"`, "step_up_required")
	for name, acr := range map[string]any{"acr a number": 2, "acr an array": []string{acrPhone}} {
		rec, seen = serve(t, h, request("GET", "/payouts", "Bearer "+fresh(acr)))
		t.Run(name, func(t *testing.T) {
			assertRefused(t, rec, seen, 401, `Bearer error="invalid_token"`, "unauthorized")
		})
	}
	old := mintToken(t, app, func(c map[string]any) {
		c["scope"], c["acr"], c["auth_time"] = "payouts:write", acrPhone, time.Now().Add(-time.Hour).Unix()
	})
	rec, seen = serve(t, h, request("GET", "/payouts", "Bearer "+old))
	assertRefused(t, rec, seen, 401, `Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "step_up_required")
	forged := old[:len(old)-4] + "AAAA"
	rec, seen = serve(t, h, request("GET", "/payouts", "Bearer "+forged))
	assertRefused(t, rec, seen, 401, `Bearer error="invalid_token"`, "unauthorized")
}

// TestACRValidation: acr values that could not stand in a header as they
// are, and max_age outside whole seconds from 1s to a year.
func TestACRValidation(t *testing.T) {
	app := acrApp(t)
	for name, h := range map[string]*Handler{
		"acr with a space":  {RouteConfig: appconfig.RouteConfig{ACR: []string{"urn:a b"}}},
		"acr with a quote":  {RouteConfig: appconfig.RouteConfig{ACR: []string{`urn:"a"`}}},
		"empty acr":         {RouteConfig: appconfig.RouteConfig{ACR: []string{""}}},
		"non-ASCII acr":     {RouteConfig: appconfig.RouteConfig{ACR: []string{"urn:é"}}},
		"max_age 500ms":     {RouteConfig: appconfig.RouteConfig{MaxAge: 500 * 1_000_000}},
		"max_age 1.5s":      {RouteConfig: appconfig.RouteConfig{MaxAge: 1_500 * 1_000_000}},
		"max_age negative":  {RouteConfig: appconfig.RouteConfig{MaxAge: -1_000_000_000}},
		"max_age two years": {RouteConfig: appconfig.RouteConfig{MaxAge: 2 * 8760 * 3600 * 1_000_000_000}},
	} {
		t.Run(name, func(t *testing.T) {
			h.logger = app.logger
			if err := h.setup(app); err != nil {
				t.Fatal(err)
			}
			if err := h.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{ACR: []string{"urn:a,b", "0", "https://idp.example/acr/loa2"}, MaxAge: 1_000_000_000}})
}
