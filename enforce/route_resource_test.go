package enforce

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRefusalsNameTheResourceMetadata: a refusal with a challenge names
// the metadata of the route's resource (RFC 9728 §5.1), written at the end
// of the challenge; one without a challenge (413, 503) names none.
func TestRefusalsNameTheResourceMetadata(t *testing.T) {
	g := newGateway(t)
	named := newTestRoute(t, RouteConfig{Scopes: []string{"payments:read"}, Resource: "https://api.example.com/payments"}, nil)
	site := newTestRoute(t, RouteConfig{Scopes: []string{"payments:read"}, BodyLimit: 4}, nil)
	for _, tc := range []struct {
		name string
		ro   *Route
		r    func() *http.Request
		want string
	}{
		{"named, no token", named, req("GET", "example.com", "", ""), "https://api.example.com/.well-known/oauth-protected-resource/payments"},
		{"named, another host", named, req("GET", "evil.test", "Bearer x.y.z", ""), "https://api.example.com/.well-known/oauth-protected-resource/payments"},
		{"site, its origin", site, req("GET", "api.example.com:8443", "", ""), "http://api.example.com:8443/.well-known/oauth-protected-resource"},
		{"site, a host that cannot be quoted", site, req("GET", `a"b`, "", ""), ""},
		{"no challenge: 413", site, req("POST", "api.example.com", "Bearer "+g.token(nil), "a=bcdef"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.ro.Decide(tc.r(), g.deps)
			if d.Refusal == nil || d.ResourceMetadata != tc.want {
				t.Fatalf("decision %+v, resource_metadata %q, want %q", d.Refusal, d.ResourceMetadata, tc.want)
			}
			rec := httptest.NewRecorder()
			d.Refusal.Write(rec, d.ResourceMetadata)
			got := rec.Header().Get("WWW-Authenticate")
			if want := d.Refusal.WWWAuthenticate; tc.want != "" {
				want += `, resource_metadata="` + tc.want + `"`
				if got != want {
					t.Errorf("challenge %q, want %q", got, want)
				}
			} else if got != d.Refusal.WWWAuthenticate {
				t.Errorf("challenge %q, want %q", got, d.Refusal.WWWAuthenticate)
			}
		})
	}
	// A pass names nothing.
	if d := site.Decide(bearer("GET", "/x", g.token(nil), ""), g.deps); d.Refusal != nil || d.ResourceMetadata != "" {
		t.Errorf("a pass: %+v %q", d.Refusal, d.ResourceMetadata)
	}
}

func req(method, host, authorization, form string) func() *http.Request {
	return func() *http.Request {
		r := bearer(method, "/payments/1", "", form)
		r.Host = host
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if form != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return r
	}
}

// TestResourceAudience: a route that names its resource takes only tokens
// whose aud names it (RFC 8707), written with or without the lone slash
// after the host; a token for another resource is invalid_token, the same
// answer as every other invalid token.
func TestResourceAudience(t *testing.T) {
	g := newGateway(t)
	payments := newTestRoute(t, RouteConfig{Scopes: []string{"payments:read"}, Resource: "https://api.example.com/payments"}, nil)
	origin := newTestRoute(t, RouteConfig{Resource: "https://api.example.com"}, nil)
	site := newTestRoute(t, RouteConfig{}, nil)
	aud := func(v any) string { return g.token(func(c map[string]any) { c["aud"] = v }) }
	invalid := newTestRoute(t, RouteConfig{}, nil).bearer.invalidToken
	for _, tc := range []struct {
		name string
		ro   *Route
		tok  string
		ok   bool
	}{
		{"the resource among others", payments, aud([]any{testIssuer, "https://api.example.com/payments"}), true},
		{"the gateway's audience only", payments, aud(testIssuer), false},
		{"another resource", payments, aud([]any{testIssuer, "https://api.example.com/reports"}), false},
		{"a prefix of it", payments, aud([]any{testIssuer, "https://api.example.com/pay"}), false},
		{"under it", payments, aud([]any{testIssuer, "https://api.example.com/payments/1"}), false},
		{"another case", payments, aud([]any{testIssuer, "https://api.example.com/Payments"}), false},
		{"with a trailing slash", payments, aud([]any{testIssuer, "https://api.example.com/payments/"}), false},
		{"the origin, with its slash", origin, aud([]any{testIssuer, "https://api.example.com/"}), true},
		{"the origin, without", origin, aud([]any{testIssuer, "https://api.example.com"}), true},
		{"no resource on the route", site, aud(testIssuer), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.ro.Decide(bearer("GET", "/payments", tc.tok, ""), g.deps)
			if tc.ok != (d.Refusal == nil) {
				t.Fatalf("refusal %+v, want ok %v", d.Refusal, tc.ok)
			}
			if !tc.ok && (d.Refusal.WWWAuthenticate != invalid.WWWAuthenticate || string(d.Refusal.Body) != string(invalid.Body)) {
				t.Errorf("refusal %s %s, want the invalid-token answer", d.Refusal.WWWAuthenticate, d.Refusal.Body)
			}
		})
	}
}

// TestDPoPRequired: a route that takes DPoP-bound tokens only answers
// under the DPoP scheme, and a Bearer token is invalid_token however good.
func TestDPoPRequired(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{DPoPRequired: true}, nil)
	for name, r := range map[string]*http.Request{
		"no token":       bearer("GET", "/x", "", ""),
		"a bearer token": bearer("GET", "/x", g.token(nil), ""),
	} {
		d := ro.Decide(r, g.deps)
		want := ro.dpop.noToken
		if name != "no token" {
			want = ro.dpop.invalidToken
		}
		if d.Refusal == nil || d.Refusal.WWWAuthenticate != want.WWWAuthenticate || !strings.HasPrefix(want.WWWAuthenticate, "DPoP ") {
			t.Errorf("%s: %+v", name, d.Refusal)
		}
	}
	if d := newTestRoute(t, RouteConfig{}, nil).Decide(bearer("GET", "/x", g.token(nil), ""), g.deps); d.Refusal != nil {
		t.Errorf("without dpop_required a bearer token passes: %s", d.Refusal.Body)
	}
}
