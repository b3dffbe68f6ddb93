package caddystepup

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/sessionapi"
)

func init() {
	caddy.RegisterModule(SessionHandler{})
}

// SessionHandler (`http.handlers.stepup_session`) serves the gateway's own
// endpoints:
//
//   - under `/v1/session/`, the session and step-up API that the Prelude web
//     SDK (`@prelude.so/js-sdk` 0.6.0) speaks: OTP login, DPoP-bound refresh,
//     logout, the session list, step-up requests, OTP and custom steps;
//   - its public keys at `/.well-known/jwks.json` (also at
//     `/.well-known/step-up-jwks.json`, the path Prelude documents for
//     step-up tokens), so that upstreams can verify the tokens it mints;
//   - the RFC 9728 metadata of the site's protected resources, as
//     `stepup_metadata` publishes it with its defaults.
//
// Requests for other paths go to the next handler. Errors are JSON
// `{"code","message","type"}`, never HTML. The settings live in the
// `stepup` app (global options); the API itself is package sessionapi.
type SessionHandler struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (SessionHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepup_session",
		New: func() caddy.Module { return new(SessionHandler) },
	}
}

// Provision attaches the handler to the stepup app.
func (s *SessionHandler) Provision(ctx caddy.Context) error {
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	s.app = app
	app.sessionServed = true
	return nil
}

// Validate checks that the app can mint tokens.
func (s *SessionHandler) Validate() error {
	if s.app != nil && s.app.Issuer == "" {
		return errors.New("stepup_session needs `issuer` in the stepup global option")
	}
	return nil
}

// ServeHTTP answers the gateway's own endpoints.
func (s *SessionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if s.app.serveResourceMetadata(w, r, resourcemeta.Site{}) {
		return nil
	}
	if !sessionapi.Owns(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	if sessionapi.CarriesSecret(r) {
		// Caddy's access log writes the request's URL and headers (all but
		// Cookie and Authorization) and the response's headers as they are.
		caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	}
	rt := s.app.awaitRuntime(r.Context())
	if rt == nil || rt.sessionAPI == nil {
		// The app has not started (yet): fail closed, in the SDK's shape.
		apierror.WriteJSON(w, apierror.Unavailable.Status(),
			apierror.Body(apierror.Unavailable, "internal", "The service is temporarily unavailable.", nil))
		return nil
	}
	rt.sessionAPI.ServeHTTP(w, r)
	if sessionapi.AnswerCarriesSecret(w.Header()) {
		// The answer's headers are logged as they are once it is sent.
		caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	}
	return nil
}

// clientIP is the request's client address as Caddy determined it
// (`trusted_proxies` applied).
func clientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}

// originalPath is the path the client addressed, before any rewrite.
func originalPath(r *http.Request) string {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL.EscapedPath()
	}
	return r.URL.EscapedPath()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SessionHandler)(nil)
	_ caddy.Validator             = (*SessionHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*SessionHandler)(nil)
)
