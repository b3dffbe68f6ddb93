package caddystepup

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Default names of the identity headers passed to the upstream.
const (
	defaultSubjectHeader = "X-Stepup-Sub"
	defaultScopeHeader   = "X-Stepup-Scope"
	defaultSessionHeader = "X-Stepup-Sid"
	defaultGrantHeader   = "X-Stepup-Grant"
	defaultRealm         = "stepup"
	reservedHeaderPrefix = "X-Stepup-"

	// defaultStepUpRequestPath is where stepup_session serves requestStepUp.
	defaultStepUpRequestPath = "/v1/session/stepup/request"
)

// Handler (`http.handlers.stepup`) verifies the access token of every
// request and lets it through only when the token carries the scopes the
// route requires. The token is read from the `Authorization: Bearer` header
// only (never from the query string, which ends up in logs).
//
// Responses, all with a JSON body `{"code","message","type"}` and
// `Cache-Control: no-store`; the upstream is never called:
//
//   - no token: 401, `WWW-Authenticate: Bearer realm="…"`, code `unauthorized`;
//   - malformed request (two Authorization headers, another scheme, a value
//     that is not a token68, a token also in the query or form): 400,
//     `error="invalid_request"`, code `bad_request`;
//   - invalid token (malformed, over 8 KiB, bad signature, unknown key,
//     expired, wrong iss/aud/typ): 401, `error="invalid_token"`, code
//     `unauthorized`; the response is the same for every cause;
//   - valid token, missing scope that can be stepped up (it has a `scope`
//     block in the app): 401, `error="insufficient_user_authentication",
//     scope="…"` (RFC 9470), code `step_up_required`, and the body says where
//     to request the step-up;
//   - valid token, missing scope that cannot be stepped up: 403,
//     `error="insufficient_scope", scope="…"`, code `forbidden`;
//   - key source unavailable: 503, code `internal`.
//
// On success it sets the placeholders `{http.auth.user.id}` (the token's
// `sub`), `{http.stepup.scope}` (granted scopes, space-delimited) and
// `{http.stepup.sid}`, and passes the same values to the upstream in
// headers (default `X-Stepup-Sub`, `X-Stepup-Scope`, `X-Stepup-Sid`).
// Client-supplied copies of those headers, and of any `X-Stepup-*` header,
// are removed from every request, authorized or not.
type Handler struct {
	// Scopes the route requires. All are required unless Any is set. An
	// empty list requires only a valid token.
	Scopes []string `json:"scopes,omitempty"`

	// Require one of Scopes instead of all. Default: false.
	Any bool `json:"any,omitempty"`

	// The realm named in `WWW-Authenticate`. Default: "stepup".
	Realm string `json:"realm,omitempty"`

	// Request fields that must equal the metadata a single-use grant was
	// approved with (transaction binding): the JSON body's top-level
	// members, e.g. ["amount", "currency"]. A grant approved for 500 USD
	// cannot pay 5,000: the request is refused and the grant spent.
	// Default: none.
	Bind []string `json:"bind,omitempty"`

	// Names of the headers that carry the caller's identity to the
	// upstream. Default: X-Stepup-Sub, X-Stepup-Scope, X-Stepup-Sid,
	// X-Stepup-Grant.
	Headers *IdentityHeaders `json:"headers,omitempty"`

	app       *App
	logger    *zap.Logger
	responses enforcementResponses
}

// IdentityHeaders names the request headers that tell the upstream who
// called. An empty name keeps the default.
type IdentityHeaders struct {
	// The token's subject (`sub`). Default: X-Stepup-Sub.
	Subject string `json:"subject,omitempty"`
	// The token's scopes, space-delimited. Default: X-Stepup-Scope.
	Scope string `json:"scope,omitempty"`
	// The session ID (`sid`). Default: X-Stepup-Sid.
	Session string `json:"session,omitempty"`
	// The ID of the single-use grant this request consumed.
	// Default: X-Stepup-Grant.
	Grant string `json:"grant,omitempty"`
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
	h.app = app
	if h.Realm == "" {
		h.Realm = defaultRealm
	}
	if h.Headers == nil {
		h.Headers = new(IdentityHeaders)
	}
	h.Headers.setDefaults()
	h.responses = newEnforcementResponses(h.Realm, defaultStepUpRequestPath)
	return nil
}

func (ih *IdentityHeaders) setDefaults() {
	if ih.Subject == "" {
		ih.Subject = defaultSubjectHeader
	}
	if ih.Scope == "" {
		ih.Scope = defaultScopeHeader
	}
	if ih.Session == "" {
		ih.Session = defaultSessionHeader
	}
	if ih.Grant == "" {
		ih.Grant = defaultGrantHeader
	}
	// Set directly in the header map on the hot path: keep them canonical.
	ih.Subject = http.CanonicalHeaderKey(ih.Subject)
	ih.Scope = http.CanonicalHeaderKey(ih.Scope)
	ih.Session = http.CanonicalHeaderKey(ih.Session)
	ih.Grant = http.CanonicalHeaderKey(ih.Grant)
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
	if h.app != nil && h.app.tokens == nil {
		return errors.New("the stepup app trusts no issuer: set `issuer` or add a `trust` block in the stepup global option")
	}
	return nil
}

// ServeHTTP enforces the route's scopes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.stripIdentityHeaders(r.Header)

	raw, problem := bearerToken(r)
	switch problem {
	case tokenMissing:
		return h.responses.write(w, &h.responses.noToken)
	case tokenMalformed:
		return h.responses.write(w, &h.responses.badRequest)
	case tokenOversize:
		return h.responses.write(w, &h.responses.invalidToken)
	}
	claims, err := h.app.tokens.Verify(r.Context(), raw)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			h.logger.Error("verifying access token: key source unavailable", zap.Error(err))
			return h.responses.write(w, &h.responses.unavailable)
		}
		if ce := h.logger.Check(zapcore.DebugLevel, "access token refused"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return h.responses.write(w, &h.responses.invalidToken)
	}

	if missing := missingScopes(h.Scopes, h.Any, claims.Scope); len(missing) > 0 {
		return h.responses.write(w, h.scopeProblem(missing))
	}
	grant, refusal := h.useGrant(r, claims)
	if refusal != nil {
		return h.responses.write(w, refusal)
	}

	scope := claims.ScopeText
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", claims.Subject)
	repl.Set("http.stepup.scope", scope)
	repl.Set("http.stepup.sid", claims.SessionID)
	r.Header[h.Headers.Subject] = []string{claims.Subject}
	r.Header[h.Headers.Scope] = []string{scope}
	if claims.SessionID != "" {
		r.Header[h.Headers.Session] = []string{claims.SessionID}
	}
	if grant != nil {
		r.Header[h.Headers.Grant] = []string{grant.ID}
		repl.Set("http.stepup.grant", grant.ID)
	}
	return next.ServeHTTP(w, r)
}

// stripIdentityHeaders removes every client-supplied header that the
// upstream could mistake for one the gateway set.
func (h *Handler) stripIdentityHeaders(hdr http.Header) {
	for name := range hdr {
		if len(name) >= len(reservedHeaderPrefix) && strings.EqualFold(name[:len(reservedHeaderPrefix)], reservedHeaderPrefix) {
			delete(hdr, name)
		}
	}
	hdr.Del(h.Headers.Subject)
	hdr.Del(h.Headers.Scope)
	hdr.Del(h.Headers.Session)
	hdr.Del(h.Headers.Grant)
}

// scopeProblem chooses between a step-up challenge (some missing scope can
// be stepped up) and a plain refusal.
func (h *Handler) scopeProblem(missing []string) *response {
	var stepUp []string
	for _, s := range missing {
		if h.app.canStepUp(s) {
			stepUp = append(stepUp, s)
		}
	}
	if len(stepUp) > 0 {
		return h.responses.stepUp(strings.Join(stepUp, " "))
	}
	return h.responses.insufficientScope(strings.Join(missing, " "))
}

// missingScopes returns the required scopes the token lacks: all of them
// that are absent, or, with any, all of them when none is present.
func missingScopes(required []string, any bool, have []string) []string {
	if len(required) == 0 {
		return nil
	}
	var missing []string
	for _, s := range required {
		if containsString(have, s) {
			if any {
				return nil
			}
			continue
		}
		missing = append(missing, s)
	}
	return missing
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func quoteForError(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}

// response is a complete refusal: status, challenge header and JSON body.
type response struct {
	status          int
	wwwAuthenticate string
	body            []byte
}

// enforcementResponses are a handler's refusals (design.md §4). This table is
// the one place where the enforcement statuses are decided. The fixed ones
// are built once, so every invalid token gets byte-for-byte the same answer.
type enforcementResponses struct {
	noToken, badRequest, invalidToken, unavailable response
	stepUpRequestPath                              string
}

func newEnforcementResponses(realm, stepUpRequestPath string) enforcementResponses {
	return enforcementResponses{
		noToken: response{http.StatusUnauthorized, `Bearer realm="` + realm + `"`,
			errorBody("unauthorized", "An access token is required.", "unauthorized", nil)},
		badRequest: response{http.StatusBadRequest, `Bearer error="invalid_request"`,
			errorBody("bad_request", "The request must carry one access token, in an `Authorization: Bearer` header.", "bad_request", nil)},
		invalidToken: response{http.StatusUnauthorized, `Bearer error="invalid_token"`,
			errorBody("unauthorized", "The access token is invalid or expired.", "unauthorized", nil)},
		unavailable: response{http.StatusServiceUnavailable, "",
			errorBody("internal", "Authorization is temporarily unavailable.", "internal", nil)},
		stepUpRequestPath: stepUpRequestPath,
	}
}

// stepUp is RFC 9470's challenge for scopes that can be stepped up.
func (er *enforcementResponses) stepUp(scope string) *response {
	return &response{http.StatusUnauthorized,
		`Bearer error="insufficient_user_authentication", scope="` + scope + `"`,
		errorBody("step_up_required", "This operation needs a step-up authentication.", "unauthorized", map[string]any{
			"scope":   scope,
			"step_up": map[string]string{"request": er.stepUpRequestPath},
		})}
}

// insufficientScope refuses scopes that cannot be stepped up (RFC 6750 §3.1).
func (er *enforcementResponses) insufficientScope(scope string) *response {
	return &response{http.StatusForbidden,
		`Bearer error="insufficient_scope", scope="` + scope + `"`,
		errorBody("forbidden", "The access token lacks the scope this operation requires.", "forbidden", map[string]any{
			"scope": scope,
		})}
}

func (er *enforcementResponses) write(w http.ResponseWriter, resp *response) error {
	hdr := w.Header()
	if resp.wwwAuthenticate != "" {
		hdr["Www-Authenticate"] = []string{resp.wwwAuthenticate}
	}
	writeJSON(w, resp.status, resp.body)
	return nil
}

// sessionStatus is the HTTP status of each kind of session API error
// (prelude-protocol.md §4: 401 only for missing or invalid credentials,
// since a 401 makes the SDK refresh and retry).
func sessionStatus(k stepup.Kind) int {
	switch k {
	case stepup.KindBadRequest:
		return http.StatusBadRequest
	case stepup.KindUnauthorized:
		return http.StatusUnauthorized
	case stepup.KindForbidden:
		return http.StatusForbidden
	case stepup.KindNotFound:
		return http.StatusNotFound
	case stepup.KindConflict:
		return http.StatusConflict
	case stepup.KindRateLimited:
		return http.StatusTooManyRequests
	case kindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusServiceUnavailable
}

// errorType is the `type` member of error bodies.
func errorType(k stepup.Kind) string {
	switch k {
	case stepup.KindBadRequest, kindMethodNotAllowed:
		return "bad_request"
	case stepup.KindUnauthorized:
		return "unauthorized"
	case stepup.KindForbidden:
		return "forbidden"
	case stepup.KindNotFound:
		return "not_found"
	case stepup.KindConflict:
		return "conflict"
	case stepup.KindRateLimited:
		return "rate_limited"
	}
	return "internal"
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
