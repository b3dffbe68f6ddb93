// What the stepup handler hands to its route's decision (enforce.Route):
// the scope catalogue, the running app's parts, and the URL the client
// addressed as Caddy knows it.

package caddystepup

import (
	"context"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// routeDeps are the running app's parts a route's decision uses, once the
// app has started (awaitRuntime); the zero Deps (every request refused as
// unavailable) when it does not.
func (a *App) routeDeps(ctx context.Context) enforce.Deps {
	rt := a.awaitRuntime(ctx)
	if rt == nil || rt.tokens == nil {
		return enforce.Deps{}
	}
	deps := enforce.Deps{Tokens: rt.tokens, Proofs: rt.resourceProofs, Markers: rt.store, Nonces: rt.nonces, Now: rt.now}
	if rt.engine != nil {
		deps.Grants = rt.engine
	}
	if rt.revocations.list != nil {
		deps.Revocations = rt.revocations.list
	}
	return deps
}

// scopeCatalogue is what the scope blocks tell a route
// (appconfig.Config.ScopeCatalogue), with the login acr's default applied.
func (a *App) scopeCatalogue() enforce.Catalogue {
	return a.ScopeCatalogue(a.settings.LoginACR)
}

// requestURL is the URL the client addressed, as a DPoP proof's htu names
// it: its origin (requestOrigin) and the path before any rewrite.
func requestURL(r *http.Request) string {
	path := r.URL.EscapedPath()
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		path = orig.URL.EscapedPath()
	}
	return requestOrigin(r) + path
}

// requestOrigin is scheme://host as the client saw them: from
// X-Forwarded-Proto and X-Forwarded-Host when a trusted proxy sent the
// request.
func requestOrigin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		if v := lastHeaderValue(r.Header, "X-Forwarded-Proto"); v != "" {
			scheme = v
		}
		if v := lastHeaderValue(r.Header, "X-Forwarded-Host"); v != "" {
			host = v
		}
	}
	return scheme + "://" + host
}

// lastHeaderValue is the last comma-separated value of a header: the one
// the nearest (trusted) proxy wrote, as Caddy's reverse proxy reads it.
func lastHeaderValue(h http.Header, name string) string {
	values := h.Values(name)
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
