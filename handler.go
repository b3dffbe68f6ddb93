package caddystepup

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler (`http.handlers.stepup`) verifies the access token of every
// request and lets it through only when the token carries the scopes the
// route requires. The token is read from the `Authorization` header only
// (never from the query string, which ends up in logs), with the `Bearer`
// scheme (RFC 6750) or, for tokens bound to a key, the `DPoP` scheme and a
// proof (RFC 9449).
//
// Responses, all with a JSON body `{"code","message","type"}` and
// `Cache-Control: no-store`; the upstream is never called. Challenges use
// the request's scheme; `DPoP` ones also name the proof algorithms
// (`algs="…"`):
//
//   - no token: 401, `WWW-Authenticate: Bearer realm="…"`, code `unauthorized`;
//   - malformed request (two Authorization headers, another scheme, a value
//     that is not a token68, two Content-Type headers, a body whose
//     Content-Type is not one well-formed media type with only charset and
//     boundary, an `access_token` parameter in the query, a form body (or
//     a body without a Content-Type) or a multipart part, a form or
//     multipart body that does not parse exactly one way or is compressed):
//     400, `error="invalid_request"`, code `bad_request`;
//   - a form, multipart or unlabelled body (or a body under `bind`) larger
//     than body_limit: 413, code `body_too_large`;
//   - invalid token (malformed, over 8 KiB, bad signature, unknown key,
//     expired, wrong iss/aud/typ, no sub; a key-bound token sent as Bearer,
//     or with a proof of another key; an unbound token sent as DPoP): 401,
//     `error="invalid_token"`, code `unauthorized`; the response is the
//     same for every cause;
//   - DPoP proof missing or invalid: 401, `DPoP error="invalid_dpop_proof"`,
//     code `invalid_dpop_proof`; nonce required (dpop_nonce): 401,
//     `DPoP error="use_dpop_nonce"` with a `DPoP-Nonce` header;
//   - valid token, missing scope that can be stepped up (it has a `scope`
//     block in the app): 401, `error="insufficient_user_authentication",
//     scope="…"` (RFC 9470), code `step_up_required`, and the body says where
//     to request the step-up;
//   - valid token, missing scope that cannot be stepped up: 403,
//     `error="insufficient_scope", scope="…"`, code `forbidden`;
//   - key source or store unavailable: 503, code `internal`.
//
// On success it sets the placeholders `{http.auth.user.id}` (the token's
// `sub`), `{http.stepup.scope}` (granted scopes, space-delimited) and
// `{http.stepup.sid}`, and passes the same values to the upstream in
// headers (default `X-Stepup-Sub`, `X-Stepup-Scope`, `X-Stepup-Sid`).
// Client-supplied copies of those headers, of any `X-Stepup-*` header and
// of the identity headers other auth proxies set (the app's
// `strip_headers`) are removed from every request, authorized or not.
type Handler struct {
	// The route's words, each with its doc and default; embedded untagged
	// so that the handler's JSON keys are its own.
	appconfig.RouteConfig

	app       *App
	logger    *zap.Logger
	route     *enforce.Route
	decisions telemetry.Decisions
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepup",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults and attaches the handler to the stepup app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	return h.setup(app)
}

// setup fills in defaults and builds the route's decision over app.
func (h *Handler) setup(app *App) error {
	h.app = app
	h.SetDefaults()
	rc := h.EnforceRoute()
	rc.DPoPAlgorithms, rc.Issuer, rc.StripHeaders = app.AcceptedDPoPAlgorithms(), app.Issuer, app.StrippedHeaders()
	rc.Logger, rc.RequestURL = h.logger, requestURL
	route, err := enforce.NewRoute(rc, app.scopeCatalogue())
	if err != nil {
		return err
	}
	h.route = route
	if h.Resource != "" {
		app.resourceCatalog().Add(h.Resource, h.resourceRoute())
	}
	h.decisions = telemetry.NewDecisions(strings.Join(h.Scopes, " "))
	return nil
}

// ServeHTTP lets the request through to next when the route's decision
// passes it, with the caller's identity in the placeholders; otherwise it
// writes the refusal. Either way the decision is counted.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	d := h.route.Decide(r, h.app.routeDeps(r.Context()))
	if d.DPoPNonce != "" {
		w.Header().Set("DPoP-Nonce", d.DPoPNonce)
	}
	if d.Refusal != nil {
		if d.Revoked != nil {
			h.app.recorder.RevokedTokenRefused(d.Revoked, d.Claims.Subject, d.Claims.SessionID, clientIP(r))
		}
		h.decisions.Count(d.Refusal.Outcome)
		d.Refusal.Write(w, d.ResourceMetadata)
		return nil
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", d.Claims.Subject)
	repl.Set("http.stepup.scope", d.Claims.ScopeText)
	repl.Set("http.stepup.sid", d.Claims.SessionID)
	if d.Grant != nil {
		repl.Set("http.stepup.grant", d.Grant.ID)
	}
	h.decisions.Count(telemetry.Pass)
	return next.ServeHTTP(w, r)
}

// Validate checks the handler's settings (appconfig.RouteConfig.Validate),
// against the app's config once setup has attached it; it changes nothing.
func (h *Handler) Validate() error {
	var app *appconfig.Config
	if h.app != nil {
		app = &h.app.Config
	}
	return h.RouteConfig.Validate(app)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
