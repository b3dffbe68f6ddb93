package caddystepup

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the route's realm, and where stepup_session serves
// requestStepUp.
const (
	defaultRealm = "stepup"
	// defaultStepUpRequestPath is where stepup_session serves requestStepUp.
	defaultStepUpRequestPath = "/v1/session/stepup/request"
)

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
	// Scopes the route requires. All are required unless Any is set. An
	// empty list requires only a valid token.
	Scopes []string `json:"scopes,omitempty"`

	// Require one of Scopes instead of all. Default: false.
	Any bool `json:"any,omitempty"`

	// Authentication context classes the route accepts (RFC 9470): the
	// token's `acr` must be one of these. A token without a listed one is
	// answered 401 `insufficient_user_authentication` with `acr_values`.
	// Default: none (any acr).
	ACR []string `json:"acr,omitempty"`

	// How long ago the token's authentication may have happened
	// (`auth_time`, RFC 9470): an older one, or none, is answered 401
	// `insufficient_user_authentication` with `max_age` in seconds. Whole
	// seconds, at least 1s. Default: 0 (no limit).
	MaxAge appconfig.Duration `json:"max_age,omitempty"`

	// The realm named in `WWW-Authenticate`. Default: "stepup".
	Realm string `json:"realm,omitempty"`

	// Request fields that must equal the metadata a single-use grant was
	// approved with (transaction binding): the JSON body's top-level
	// members, e.g. ["amount", "currency"]. A grant approved for 500 USD
	// cannot pay 5,000: the request is refused and the grant spent. The
	// body must be one `application/json` object that every parser reads
	// alike (no Content-Encoding, valid UTF-8, no duplicate or case-variant
	// member names), a bound field a string equal to the approved value or
	// a number written exactly as it; the upstream receives exactly the
	// bytes that were checked. With bind, a request passes only by spending
	// a single-use grant, so every scope of the route must be one that can
	// be granted single-use. Default: none.
	Bind []string `json:"bind,omitempty"`

	// The largest body read to inspect it: form and multipart bodies and
	// bodies without a Content-Type (for a second credential), and bodies
	// under bind. Larger ones are refused with 413. Bodies of other media
	// types (JSON, binary uploads) are streamed to the upstream unread.
	// Default: 1MiB.
	BodyLimit int64 `json:"body_limit,omitempty"`

	// Demand a server nonce in the DPoP proofs of this route (RFC 9449 §9):
	// a proof without a current one is answered 401 `use_dpop_nonce` with
	// a `DPoP-Nonce` header, which clients retry with. Nonces are derived
	// from the gateway's signing key, so every instance accepts them.
	// Default: false (proofs are still single use through the store).
	DPoPNonce bool `json:"dpop_nonce,omitempty"`

	// Take only DPoP-bound tokens on this route (RFC 9449 §7.1): its
	// challenges use the DPoP scheme, a token sent as Bearer is
	// invalid_token, and its resource's metadata says
	// `dpop_bound_access_tokens_required` when every route of the
	// resource demands it. The gateway's own tokens are bearer tokens, so
	// only tokens of `trust`ed issuers pass here. Default: false.
	DPoPRequired bool `json:"dpop_required,omitempty"`

	// The resource identifier of the route's group (RFC 8707, RFC 9728):
	// an absolute https URL (http on loopback) without query or fragment,
	// e.g. `https://api.example.com/payments`. Its metadata is published at
	// `https://api.example.com/.well-known/oauth-protected-resource/payments`
	// (by `stepup_metadata` or `stepup_session` on that site), and every
	// challenge of the route names that URL in `resource_metadata`.
	// Default: none; the route belongs to its site's resource, whose
	// identifier is the origin the client addressed.
	Resource string `json:"resource,omitempty"`

	// Authorization details (RFC 9396) the request's access token must
	// carry, each matched against the request's JSON body (see
	// DetailsConfig): a token whose details do not cover the request is
	// answered 401 `insufficient_authorization` naming the details that
	// would. Default: none.
	AuthorizationDetails []*appconfig.DetailsConfig `json:"authorization_details,omitempty"`

	// Makes the route an MCP server's (Streamable HTTP): each request's
	// JSON-RPC message is read strictly and its method or tool may need
	// more scopes, another acr or a more recent authentication (see
	// MCPConfig). Not with bind. Default: none (bodies of other media
	// types stream unread).
	MCP *appconfig.MCPConfig `json:"mcp,omitempty"`

	// Names of the headers that carry the caller's identity to the
	// upstream. Default: X-Stepup-Sub, X-Stepup-Scope, X-Stepup-Sid,
	// X-Stepup-Grant.
	Headers *appconfig.IdentityHeaders `json:"headers,omitempty"`

	app       *App
	logger    *zap.Logger
	route     *enforce.Route
	decisions telemetry.Decisions
}

// maxMaxAge bounds a route's max_age: a year.
const maxMaxAge = 8760 * time.Hour

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
	if h.Realm == "" {
		h.Realm = defaultRealm
	}
	if h.BodyLimit == 0 {
		h.BodyLimit = enforce.DefaultBodyLimit
	}
	if h.Headers == nil {
		h.Headers = new(appconfig.IdentityHeaders)
	}
	h.Headers.SetDefaults()
	route, err := enforce.NewRoute(enforce.RouteConfig{
		Scopes: h.Scopes, Any: h.Any, ACR: h.ACR, MaxAge: time.Duration(h.MaxAge),
		Realm: h.Realm, Bind: h.Bind, BodyLimit: h.BodyLimit, DPoPNonce: h.DPoPNonce, DPoPRequired: h.DPoPRequired,
		DPoPAlgorithms: app.AcceptedDPoPAlgorithms(), StepUpRequestPath: defaultStepUpRequestPath, Issuer: app.Issuer,
		Headers: enforce.IdentityHeaders{Subject: h.Headers.Subject, Scope: h.Headers.Scope,
			Session: h.Headers.Session, Grant: h.Headers.Grant},
		StripHeaders: app.StrippedHeaders(), Logger: h.logger, RequestURL: requestURL, Resource: h.Resource,
		MCP: h.mcpRouteConfig(), AuthorizationDetails: h.detailsRequirements(),
	}, app.scopeCatalogue())
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

// Validate checks the handler's settings; it changes nothing.
func (h *Handler) Validate() error {
	for _, s := range h.Scopes {
		if !stepup.ValidKey(s) {
			return errors.New("scope " + quoteForError(s) + ": letters, digits and . _ : - only")
		}
	}
	if h.Any && len(h.Scopes) < 2 {
		return errors.New("any needs at least two scopes")
	}
	if strings.ContainsAny(h.Realm, "\"\\\r\n") {
		return errors.New("realm must not contain quotes, backslashes or line breaks")
	}
	if h.BodyLimit < 0 {
		return errors.New("body_limit must not be negative")
	}
	for _, v := range h.ACR {
		if !stepup.ValidACR(v) {
			return errors.New("acr " + quoteForError(v) + ": 1 to 255 printable ASCII characters, no space, quote or backslash")
		}
	}
	if h.Resource != "" {
		if err := resourcemeta.CheckIdentifier(h.Resource); err != nil {
			return fmt.Errorf("resource %s: %v", quoteForError(h.Resource), err)
		}
	}
	if m := time.Duration(h.MaxAge); m != 0 && (m < time.Second || m%time.Second != 0 || m > maxMaxAge) {
		return errors.New("max_age must be whole seconds, from 1s to 8760h")
	}
	if h.app != nil && !h.app.TrustsIssuers() {
		return errors.New("the stepup app trusts no issuer: set `issuer` or add a `trust` block in the stepup global option")
	}
	if h.MCP != nil {
		if len(h.Bind) > 0 {
			return errors.New("mcp: bind reads the body as a transaction, mcp as a JSON-RPC message: a route has one or the other")
		}
		if err := h.MCP.RouteConfig().Validate(h.ACR); err != nil {
			return fmt.Errorf("mcp: %v", err)
		}
	}
	if len(h.Bind) > 0 {
		if err := h.validateBind(); err != nil {
			return fmt.Errorf("bind: %v", err)
		}
	}
	return h.validateDetails()
}

// validateBind refuses `bind` where no single-use grant can ever be spent:
// without one, there is no approved transaction to compare the body with.
func (h *Handler) validateBind() error {
	for _, f := range h.Bind {
		if !stepup.ValidKey(f) {
			return errors.New("field " + quoteForError(f) + ": letters, digits and . _ : - only")
		}
	}
	if len(h.Scopes) == 0 {
		return errors.New("needs the scopes whose single-use grants it binds")
	}
	if h.app == nil {
		return nil
	}
	if h.app.Issuer == "" {
		return errors.New("single-use grants are minted by the gateway: set `issuer` in the stepup global option")
	}
	for _, s := range h.Scopes {
		sc := h.app.Scopes[s]
		switch {
		case sc == nil:
			return fmt.Errorf("scope %s has no `scope` block, so no single-use grant can be issued for it", s)
		case sc.Block:
			return fmt.Errorf("scope %s is blocked, so no single-use grant can be issued for it", s)
		case sc.Direct != nil && sc.Direct.GrantMode != "" && sc.Direct.GrantMode != grantSingleUse:
			return fmt.Errorf("scope %s is granted %s, not single-use", s, sc.Direct.GrantMode)
		}
	}
	return nil
}

// mcpRouteConfig is the mcp block for the route's decision; nil without one.
func (h *Handler) mcpRouteConfig() *enforce.MCPConfig {
	if h.MCP == nil {
		return nil
	}
	return h.MCP.RouteConfig()
}

func quoteForError(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
