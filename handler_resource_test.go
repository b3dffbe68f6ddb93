package caddystepup

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

func TestChallengesNameTheRoutesResourceMetadata(t *testing.T) {
	app := testApp(t)
	named := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:write"}, Resource: "https://api.example.com/payments"}})
	site := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:write"}}})
	for _, tc := range []struct {
		h      *Handler
		host   string
		header string
		want   string
	}{
		{named, "example.com", "", `Bearer realm="stepup", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/payments"`},
		{named, "evil.test", "Bearer x.y.z", `Bearer error="invalid_token", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/payments"`},
		{site, "api.example.com:8443", "", `Bearer realm="stepup", resource_metadata="http://api.example.com:8443/.well-known/oauth-protected-resource"`},
		// A host that cannot be written in a quoted parameter is not.
		{site, `a"b`, "", `Bearer realm="stepup"`},
	} {
		r := request("GET", "/payments/1", tc.header)
		r.Host = tc.host
		rec, _ := serve(t, tc.h, r)
		if got := rec.Header().Get("WWW-Authenticate"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.host, got, tc.want)
		}
	}
	// A DPoP challenge ends with it too, after algs.
	r := request("GET", "/payments/1", "DPoP x.y.z")
	rec, _ := serve(t, named, r)
	if got := rec.Header().Get("WWW-Authenticate"); got != `DPoP error="invalid_token", algs="`+strings.Join(app.AcceptedDPoPAlgorithms(), " ")+`", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/payments"` {
		t.Errorf("DPoP: %q", got)
	}
	if !app.resourceCatalog().Has("https://api.example.com/payments") || app.resourceCatalog().Has("http://example.com") {
		t.Error("the catalog does not hold exactly the named resource")
	}
}

func TestSiteRoutesAreTheStepupRoutesOfTheRequestsHost(t *testing.T) {
	app := testApp(t)
	mk := func(scope, resource string) *Handler {
		return testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{scope}, Resource: resource}})
	}
	srv := &caddyhttp.Server{Routes: caddyhttp.RouteList{
		{MatcherSets: caddyhttp.MatcherSets{{caddyhttp.MatchHost{"a.test"}}}, Handlers: []caddyhttp.MiddlewareHandler{
			&caddyhttp.Subroute{Routes: caddyhttp.RouteList{
				{Handlers: []caddyhttp.MiddlewareHandler{mk("a:read", "")}},
				{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{Routes: caddyhttp.RouteList{
					{Handlers: []caddyhttp.MiddlewareHandler{mk("a:write", ""), mk("a:named", "https://a.test/named")}},
				}}}},
			}},
		}},
		{MatcherSets: caddyhttp.MatcherSets{{new(caddyhttp.MatchHost)}}, Handlers: []caddyhttp.MiddlewareHandler{mk("none:read", "")}},
		{MatcherSets: caddyhttp.MatcherSets{{caddyhttp.MatchHost{"b.test"}}}, Handlers: []caddyhttp.MiddlewareHandler{mk("b:read", "")}},
		{Handlers: []caddyhttp.MiddlewareHandler{mk("any:read", "")}},
	}}
	for host, want := range map[string][]string{"a.test": {"a:read", "a:write", "any:read"}, "b.test": {"b:read", "any:read"}, "c.test": {"any:read"}} {
		r := httptest.NewRequest("GET", "/.well-known/oauth-protected-resource", nil)
		r.Host = host
		ctx := context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv)
		r = r.WithContext(context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer()))
		var got []string
		for _, route := range siteRoutes(r) {
			got = append(got, route.Scopes...)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
	}
}
