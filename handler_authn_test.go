package caddystepup

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
)

const (
	acrPhone = "urn:stepup:phone"
	acrHWK   = "urn:stepup:hwk"
)

// acrApp: payouts:write earns acrPhone, profile:write the login's acr,
// kyc:write acrPhone too (not on the route), admin is blocked.
func acrApp(t *testing.T) *App {
	app := testApp(t)
	direct := &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}}
	app.LoginACR = "urn:stepup:otp"
	app.Scopes = map[string]*Scope{
		"payouts:write": {Direct: direct, ACR: acrPhone},
		"profile:write": {Direct: direct},
		"kyc:write":     {Direct: direct, ACR: acrPhone},
		"admin":         {Block: true},
	}
	return app
}

type challengeJSON struct {
	Code      string `json:"code"`
	Type      string `json:"type"`
	Scope     string `json:"scope"`
	ACRValues string `json:"acr_values"`
	MaxAge    int64  `json:"max_age"`
	StepUp    *struct {
		Request string `json:"request"`
		Scope   string `json:"scope"`
	} `json:"step_up"`
}

func readChallenge(t *testing.T, r *response) challengeJSON {
	t.Helper()
	var c challengeJSON
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAuthenticationProblem: acr and max_age at the route, alone and with
// scopes, at and past each bound, and the scope a step-up should request.
func TestAuthenticationProblem(t *testing.T) {
	app := acrApp(t)
	route := testHandler(t, app, &Handler{Scopes: []string{"payouts:write"}, ACR: []string{acrPhone, acrHWK}, MaxAge: caddy5m})
	now := time.Unix(1_800_000_000, 0)
	const none = time.Duration(math.MinInt64) // no auth_time
	claims := func(scope, acr string, authAgo time.Duration) *jwks.Claims {
		c := &jwks.Claims{Subject: "usr_a", ACR: acr}
		if scope != "" {
			c.Scope = strings.Fields(scope)
		}
		if authAgo != none {
			c.AuthTime = now.Add(-authAgo)
		}
		return c
	}
	for name, tc := range map[string]struct {
		h      *Handler
		claims *jwks.Claims
		// want: "" passes; else the WWW-Authenticate params after the
		// scheme and the body's code and step_up.scope.
		header, code, stepUpScope string
		status                    int
	}{
		"all there":                 {route, claims("payouts:write", acrPhone, time.Minute), "", "", "", 0},
		"the other listed acr":      {route, claims("payouts:write", acrHWK, time.Minute), "", "", "", 0},
		"max_age exactly":           {route, claims("payouts:write", acrPhone, 5*time.Minute), "", "", "", 0},
		"authenticated in future":   {route, claims("payouts:write", acrPhone, -time.Minute), "", "", "", 0},
		"no acr":                    {route, claims("payouts:write", "", time.Minute), `error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone urn:stepup:hwk"`, "step_up_required", "payouts:write", 401},
		"acr in capitals":           {route, claims("payouts:write", "URN:STEPUP:PHONE", time.Minute), `error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone urn:stepup:hwk"`, "step_up_required", "payouts:write", 401},
		"acr with a trailing space": {route, claims("payouts:write", acrPhone+" ", time.Minute), `error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone urn:stepup:hwk"`, "step_up_required", "payouts:write", 401},
		"a second past max_age":     {route, claims("payouts:write", acrPhone, 5*time.Minute+time.Second), `error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "step_up_required", "payouts:write", 401},
		"no auth_time":              {route, claims("payouts:write", acrPhone, none), `error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "step_up_required", "payouts:write", 401},
		"acr and age":               {route, claims("payouts:write", "urn:stepup:otp", time.Hour), `error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone urn:stepup:hwk", max_age=300`, "step_up_required", "payouts:write", 401},
		"scope and acr":             {route, claims("openid", "", time.Minute), `error="insufficient_user_authentication", error_description="A different authentication level is required", scope="payouts:write", acr_values="urn:stepup:phone urn:stepup:hwk"`, "step_up_required", "payouts:write", 401},
		// Without scopes: the scope block that earns a listed acr.
		"acr only route": {testHandler(t, app, &Handler{ACR: []string{acrPhone}}), claims("", "urn:stepup:otp", time.Minute),
			`error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone"`, "step_up_required", "kyc:write", 401},
		// An acr no scope block earns: nothing to request at the gateway.
		"acr nobody earns": {testHandler(t, app, &Handler{Scopes: []string{"profile:write"}, ACR: []string{"urn:idp:mfa"}}), claims("profile:write", "urn:stepup:otp", time.Minute),
			`error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:idp:mfa"`, "insufficient_user_authentication", "", 401},
		// Stale, with the route's scope held: step up for it again.
		"max_age only": {testHandler(t, app, &Handler{Scopes: []string{"admin", "profile:write"}, Any: true, MaxAge: caddy5m}), claims("profile:write", "", time.Hour),
			`error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "step_up_required", "profile:write", 401},
		"max_age, no scopes": {testHandler(t, app, &Handler{MaxAge: caddy5m}), claims("", "", time.Hour),
			`error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "insufficient_user_authentication", "", 401},
		// A scope that can't be stepped up stays a 403, whatever the acr.
		"unknown scope and acr": {testHandler(t, app, &Handler{Scopes: []string{"payments:refund"}, ACR: []string{acrPhone}}), claims("", "", time.Minute),
			`error="insufficient_scope", scope="payments:refund"`, "forbidden", "", 403},
	} {
		t.Run(name, func(t *testing.T) {
			r := tc.h.authenticationProblem(&tc.h.responses, tc.claims, func() time.Time { return now })
			if tc.status == 0 {
				if r != nil {
					t.Fatalf("refused: %d %s %s", r.status, r.wwwAuthenticate, r.body)
				}
				return
			}
			if r == nil {
				t.Fatal("passed")
			}
			if r.status != tc.status || r.wwwAuthenticate != "Bearer "+tc.header {
				t.Errorf("got %d %s\nwant %d Bearer %s", r.status, r.wwwAuthenticate, tc.status, tc.header)
			}
			c := readChallenge(t, r)
			got := ""
			if c.StepUp != nil {
				got = c.StepUp.Scope
				if c.StepUp.Request != defaultStepUpRequestPath {
					t.Errorf("step_up.request %q", c.StepUp.Request)
				}
			}
			if c.Code != tc.code || got != tc.stepUpScope {
				t.Errorf("body code %q step_up.scope %q, want %q %q (%s)", c.Code, got, tc.code, tc.stepUpScope, r.body)
			}
			if strings.Contains(tc.header, "acr_values") != (c.ACRValues != "") || strings.Contains(tc.header, "max_age") != (c.MaxAge == 300) {
				t.Errorf("body %s does not carry the header's acr_values/max_age", r.body)
			}
		})
	}
}

const caddy5m = 5 * 60 * 1_000_000_000

// TestAuthenticationRefusalsAtTheHandler: a whole request; the upstream
// never sees a refused one, and an invalid token stays invalid_token.
func TestAuthenticationRefusalsAtTheHandler(t *testing.T) {
	app := acrApp(t)
	h := testHandler(t, app, &Handler{Scopes: []string{"payouts:write"}, ACR: []string{acrPhone}, MaxAge: caddy5m})
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
		"acr with a space":  {ACR: []string{"urn:a b"}},
		"acr with a quote":  {ACR: []string{`urn:"a"`}},
		"empty acr":         {ACR: []string{""}},
		"non-ASCII acr":     {ACR: []string{"urn:é"}},
		"max_age 500ms":     {MaxAge: 500 * 1_000_000},
		"max_age 1.5s":      {MaxAge: 1_500 * 1_000_000},
		"max_age negative":  {MaxAge: -1_000_000_000},
		"max_age two years": {MaxAge: 2 * 8760 * 3600 * 1_000_000_000},
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
	testHandler(t, app, &Handler{ACR: []string{"urn:a,b", "0", "https://idp.example/acr/loa2"}, MaxAge: 1_000_000_000})
}
