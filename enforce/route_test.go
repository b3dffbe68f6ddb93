package enforce

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// TestAuthenticationProblem: acr and max_age at the route, alone and with
// scopes, at and past each bound, and the scope a step-up should request.
func TestAuthenticationProblem(t *testing.T) {
	const fiveMinutes = 5 * time.Minute
	route := newTestRoute(t, RouteConfig{Scopes: []string{"payouts:write"}, ACR: []string{acrPhone, acrHWK}, MaxAge: fiveMinutes}, acrCatalogue)
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
		route  *Route
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
		"acr only route": {newTestRoute(t, RouteConfig{ACR: []string{acrPhone}}, acrCatalogue), claims("", "urn:stepup:otp", time.Minute),
			`error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone"`, "step_up_required", "kyc:write", 401},
		// An acr no scope block earns: nothing to request at the gateway.
		"acr nobody earns": {newTestRoute(t, RouteConfig{Scopes: []string{"profile:write"}, ACR: []string{"urn:idp:mfa"}}, acrCatalogue), claims("profile:write", "urn:stepup:otp", time.Minute),
			`error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:idp:mfa"`, "insufficient_user_authentication", "", 401},
		// Stale, with the route's scope held: step up for it again.
		"max_age only": {newTestRoute(t, RouteConfig{Scopes: []string{"admin", "profile:write"}, Any: true, MaxAge: fiveMinutes}, acrCatalogue), claims("profile:write", "", time.Hour),
			`error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "step_up_required", "profile:write", 401},
		"max_age, no scopes": {newTestRoute(t, RouteConfig{MaxAge: fiveMinutes}, acrCatalogue), claims("", "", time.Hour),
			`error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "insufficient_user_authentication", "", 401},
		// A scope that can't be stepped up stays a 403, whatever the acr.
		"unknown scope and acr": {newTestRoute(t, RouteConfig{Scopes: []string{"payments:refund"}, ACR: []string{acrPhone}}, acrCatalogue), claims("", "", time.Minute),
			`error="insufficient_scope", scope="payments:refund"`, "forbidden", "", 403},
		// A blocked scope can be asked for (its step-up is refused there),
		// but is never the one a stale token renews with.
		"blocked scope missing": {newTestRoute(t, RouteConfig{Scopes: []string{"admin"}}, acrCatalogue), claims("openid", "", time.Minute),
			`error="insufficient_user_authentication", scope="admin"`, "step_up_required", "admin", 401},
	} {
		t.Run(name, func(t *testing.T) {
			r := tc.route.authenticationProblem(&tc.route.bearer, tc.claims, func() time.Time { return now }, &tc.route.route)
			if tc.status == 0 {
				if r != nil {
					t.Fatalf("refused: %d %s %s", r.Status, r.WWWAuthenticate, r.Body)
				}
				return
			}
			if r == nil {
				t.Fatal("passed")
			}
			if r.Status != tc.status || r.WWWAuthenticate != "Bearer "+tc.header {
				t.Errorf("got %d %s\nwant %d Bearer %s", r.Status, r.WWWAuthenticate, tc.status, tc.header)
			}
			c := readChallenge(t, r)
			got := ""
			if c.StepUp != nil {
				got = c.StepUp.Scope
				if c.StepUp.Request != stepUpPath {
					t.Errorf("step_up.request %q", c.StepUp.Request)
				}
			}
			if c.Code != tc.code || got != tc.stepUpScope {
				t.Errorf("body code %q step_up.scope %q, want %q %q (%s)", c.Code, got, tc.code, tc.stepUpScope, r.Body)
			}
			if strings.Contains(tc.header, "acr_values") != (c.ACRValues != "") || strings.Contains(tc.header, "max_age") != (c.MaxAge == 300) {
				t.Errorf("body %s does not carry the header's acr_values/max_age", r.Body)
			}
		})
	}
}

func TestMissingScopes(t *testing.T) {
	for _, tc := range []struct {
		required []string
		any      bool
		have     []string
		want     string
	}{
		{nil, false, nil, ""},
		{[]string{"a"}, false, []string{"a"}, ""},
		{[]string{"a", "b"}, false, []string{"a"}, "b"},
		{[]string{"a", "b"}, false, nil, "a b"},
		{[]string{"a", "b"}, true, []string{"b"}, ""},
		{[]string{"a", "b"}, true, []string{"c"}, "a b"},
		{[]string{"a"}, false, []string{"A", "a "}, "a"},
	} {
		got := strings.Join(missingScopes(tc.required, tc.any, tc.have), " ")
		if got != tc.want {
			t.Errorf("missingScopes(%q, %v, %q) = %q, want %q", tc.required, tc.any, tc.have, got, tc.want)
		}
	}
}

// TestCatalogueEarnsACR: a scope earns exactly the acr values of its entry;
// a scope without an entry earns none.
func TestCatalogueEarnsACR(t *testing.T) {
	for _, tc := range []struct {
		scope string
		acrs  []string
		want  bool
	}{
		{"payouts:write", []string{acrHWK, acrPhone}, true},
		{"payouts:write", []string{"urn:stepup:otp"}, false},
		{"profile:write", []string{"urn:stepup:otp"}, true},
		{"admin", []string{"urn:stepup:otp"}, false},
		{"unknown", []string{"urn:stepup:otp"}, false},
		{"payouts:write", nil, false},
	} {
		if got := acrCatalogue.EarnsACR(tc.scope, tc.acrs); got != tc.want {
			t.Errorf("EarnsACR(%s, %v) = %v", tc.scope, tc.acrs, got)
		}
	}
	if !acrCatalogue.CanStepUp("admin") || acrCatalogue.Grantable("admin") || acrCatalogue.CanStepUp("unknown") {
		t.Error("a blocked scope can be stepped up (and is refused there) but not granted; an unknown one neither")
	}
}

// TestEveryRefusalIsCounted: every refusal a route can answer with, of
// either scheme, is counted under an outcome of the one list, and the
// fixed ones each under their own.
func TestEveryRefusalIsCounted(t *testing.T) {
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"metrics:test"}}, Catalogue{"metrics:test": {Grantable: true}})
	for _, rs := range []*refusals{&ro.bearer, &ro.dpop} {
		seen := map[telemetry.Outcome]string{}
		v := reflect.ValueOf(rs).Elem()
		for i := range v.NumField() {
			if v.Field(i).Type() != reflect.TypeFor[Refusal]() {
				continue
			}
			name, outcome := v.Type().Field(i).Name, telemetry.Outcome(v.Field(i).FieldByName("Outcome").Uint())
			if outcome.String() == "" {
				t.Errorf("%s %s: no outcome", rs.scheme, name)
			}
			if other, dup := seen[outcome]; dup {
				t.Errorf("%s %s and %s: both counted as %s", rs.scheme, other, name, outcome)
			}
			seen[outcome] = name
		}
		if len(seen) < 8 {
			t.Errorf("%s: %d fixed refusals found, want 8", rs.scheme, len(seen))
		}
		for _, c := range []struct {
			refusal *Refusal
			want    telemetry.Outcome
		}{
			{rs.stepUp("metrics:test"), telemetry.StepUpRequired},
			{rs.userAuthentication(authnNeed{acrValues: "urn:x"}), telemetry.InsufficientUserAuthentication},
			{rs.userAuthentication(authnNeed{maxAge: 60, stepUpScope: "metrics:test"}), telemetry.StepUpRequired},
			{rs.insufficientScope("metrics:test"), telemetry.Forbidden},
		} {
			if c.refusal.Outcome != c.want {
				t.Errorf("%s: refusal %s counted as %s, want %s", rs.scheme, c.refusal.Body, c.refusal.Outcome, c.want)
			}
		}
	}
}

// TestDecideBeforeTheAppStarted: with the zero Deps every request, with
// or without a token and of either scheme, is refused as unavailable, and
// the identity headers a client sent are gone all the same.
func TestDecideBeforeTheAppStarted(t *testing.T) {
	ro := newTestRoute(t, RouteConfig{}, nil)
	for _, auth := range []string{"", "Bearer a.b.c", "DPoP a.b.c", "Basic x"} {
		r := bearer("GET", "/x", "", "")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r.Header.Set("X-Stepup-Sub", "usr_admin")
		r.Header.Set("X-Auth-Request-User", "admin")
		d := ro.Decide(r, Deps{})
		if d.Refusal == nil || d.Refusal.Status != 503 || d.Refusal.Outcome != telemetry.Unavailable || d.Claims != nil {
			t.Fatalf("%q: %+v", auth, d)
		}
		if readChallenge(t, d.Refusal).Code != "internal" {
			t.Errorf("%q: %s", auth, d.Refusal.Body)
		}
		if len(r.Header["X-Stepup-Sub"]) != 0 {
			t.Errorf("%q: a client's X-Stepup-Sub survived a refusal", auth)
		}
	}
}

// TestDecidePassSetsTheIdentity: a pass hands the upstream the token's
// subject, scopes and session, in place of whatever the client sent under
// those names or a stripped pattern.
func TestDecidePassSetsTheIdentity(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"payments:read"}, StripHeaders: []string{"X-Auth-*"}}, nil)
	r := bearer("GET", "/x", g.token(nil), "")
	r.Header["X-Stepup-Sub"] = []string{"usr_admin"}
	r.Header["X-Stepup-Grant"] = []string{"grt_forged"}
	r.Header["X_auth_user"] = []string{"admin"}
	d := ro.Decide(r, g.deps)
	if d.Refusal != nil {
		t.Fatalf("refused: %s", d.Refusal.Body)
	}
	if d.Claims.Subject != "usr_alice" || d.Grant != nil || d.DPoPNonce != "" {
		t.Fatalf("decision %+v", d)
	}
	want := http.Header{"Authorization": r.Header["Authorization"], "X-Stepup-Sub": {"usr_alice"},
		"X-Stepup-Scope": {"openid payments:read"}, "X-Stepup-Sid": {"ses_1"}}
	if !reflect.DeepEqual(r.Header, want) {
		t.Errorf("upstream headers %v, want %v", r.Header, want)
	}
}

// TestDecideRefusalsInOrder: one credential comes first, then the token,
// then the scopes; a refused request keeps no identity header.
func TestDecideRefusalsInOrder(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"payouts:write"}}, acrCatalogue)
	good := g.token(func(c map[string]any) { c["scope"] = "payouts:write" })
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
		code   string
	}{
		{"no token", bearer("GET", "/x", "", ""), 401, "unauthorized"},
		{"a second token in the query, before the token is read", bearer("GET", "/x?access_token=x", "not-a-token", ""), 400, "bad_request"},
		{"a second token in a form body", func() *http.Request {
			r := bearer("POST", "/x", good, "access_token=x")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}(), 400, "bad_request"},
		{"invalid token", bearer("GET", "/x", good[:len(good)-4]+"AAAA", ""), 401, "unauthorized"},
		{"scope missing", bearer("GET", "/x", g.token(nil), ""), 401, "step_up_required"},
		{"passes", bearer("GET", "/x", good, ""), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ro.Decide(tc.r, g.deps)
			if tc.status == 0 {
				if d.Refusal != nil {
					t.Fatalf("refused: %s", d.Refusal.Body)
				}
				return
			}
			if d.Refusal == nil || d.Refusal.Status != tc.status || readChallenge(t, d.Refusal).Code != tc.code {
				t.Fatalf("decision %+v, want %d %s", d.Refusal, tc.status, tc.code)
			}
			if len(tc.r.Header["X-Stepup-Sub"]) != 0 {
				t.Error("identity set on a refusal")
			}
		})
	}
}

// TestDecideDPoP: the sender constraint at a route with dpop_nonce: a
// bound token is refused as Bearer, a proof without the nonce is answered
// use_dpop_nonce with one, and a proof with it passes with a fresh one.
func TestDecideDPoP(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{DPoPNonce: true}, nil)
	key := newKey(t)
	bound := g.token(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": sessionclient.JKT(key)} })
	dpopRequest := func(nonce string) *http.Request {
		r := bearer("GET", "https://api.test/payments", "", "")
		r.Header.Set("Authorization", "DPoP "+bound)
		r.Header.Set("DPoP", sessionclient.ResourceProof(key, "GET", "https://api.test/payments", bound, func(h, c map[string]any) {
			if nonce != "" {
				c["nonce"] = nonce
			}
		}))
		return r
	}

	d := ro.Decide(bearer("GET", "/payments", bound, ""), g.deps)
	if d.Refusal == nil || d.Refusal.WWWAuthenticate != `Bearer error="invalid_token"` {
		t.Fatalf("a bound token as Bearer: %+v", d.Refusal)
	}
	d = ro.Decide(dpopRequest(""), g.deps)
	if d.Refusal == nil || d.Refusal.WWWAuthenticate != `DPoP error="use_dpop_nonce", algs="ES256"` || d.DPoPNonce == "" {
		t.Fatalf("no nonce: %+v nonce %q", d.Refusal, d.DPoPNonce)
	}
	d = ro.Decide(dpopRequest(d.DPoPNonce), g.deps)
	if d.Refusal != nil || d.DPoPNonce == "" {
		t.Fatalf("with the nonce: %+v nonce %q", d.Refusal, d.DPoPNonce)
	}
	// The same proof again is a replay.
	r := dpopRequest("")
	r.Header.Set("DPoP", sessionclient.ResourceProof(key, "GET", "https://api.test/payments", bound, func(h, c map[string]any) { c["nonce"], c["jti"] = d.DPoPNonce, "one" }))
	r2 := r.Clone(r.Context())
	if d = ro.Decide(r, g.deps); d.Refusal != nil {
		t.Fatalf("first use: %s", d.Refusal.Body)
	}
	if d = ro.Decide(r2, g.deps); d.Refusal == nil || d.Refusal.Outcome != telemetry.InvalidDPoPProof {
		t.Fatalf("replay: %+v", d.Refusal)
	}
}

// unreachableKeys is a token verifier whose key source cannot be reached.
type unreachableKeys struct{}

func (unreachableKeys) Verify(context.Context, string) (*jwks.Claims, error) {
	return nil, fmt.Errorf("fetching the issuer's JWKS: %w", jwks.ErrUnavailable)
}

// brokenMarkers is a store that cannot record a DPoP proof's marker.
type brokenMarkers struct{}

func (brokenMarkers) Create(context.Context, string, []byte, time.Duration) error {
	return errors.New("connection refused")
}

// TestDecideFailsClosed: a key source that cannot be reached, or a store
// that cannot record a proof, is a 503 and never a pass.
func TestDecideFailsClosed(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{}, nil)
	down := g.deps
	down.Tokens = unreachableKeys{}
	if d := ro.Decide(bearer("GET", "/x", g.token(nil), ""), down); d.Refusal == nil || d.Refusal.Status != 503 || d.Refusal.Outcome != telemetry.Unavailable {
		t.Fatalf("keys unreachable: %+v", d.Refusal)
	}

	key := newKey(t)
	bound := g.token(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": sessionclient.JKT(key)} })
	r := bearer("GET", "https://api.test/payments", "", "")
	r.Header.Set("Authorization", "DPoP "+bound)
	r.Header.Set("DPoP", sessionclient.ResourceProof(key, "GET", "https://api.test/payments", bound, nil))
	broken := g.deps
	broken.Markers = brokenMarkers{}
	d := ro.Decide(r, broken)
	if d.Refusal == nil || d.Refusal.Status != 503 || d.Refusal.WWWAuthenticate != "" {
		t.Fatalf("store down: %+v", d.Refusal)
	}
}
