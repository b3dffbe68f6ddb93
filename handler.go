package caddystepup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-stepup/caddy-stepup/enforce"
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
//     that is not a token68, an `access_token` parameter in the query, a
//     form body or a multipart part, a form body that does not parse or is
//     compressed): 400, `error="invalid_request"`, code `bad_request`;
//   - a form body (or a body under `bind`) larger than body_limit: 413,
//     code `body_too_large`;
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

	// The largest body read to inspect it: form bodies (for a second
	// credential) and bodies under bind. Larger ones are refused with 413.
	// Other bodies (JSON, binary uploads) are streamed to the upstream
	// unread. Default: 1MiB.
	BodyLimit int64 `json:"body_limit,omitempty"`

	// Demand a server nonce in the DPoP proofs of this route (RFC 9449 §9):
	// a proof without a current one is answered 401 `use_dpop_nonce` with
	// a `DPoP-Nonce` header, which clients retry with. Nonces are derived
	// from the gateway's signing key, so every instance accepts them.
	// Default: false (proofs are still single use through the store).
	DPoPNonce bool `json:"dpop_nonce,omitempty"`

	// Names of the headers that carry the caller's identity to the
	// upstream. Default: X-Stepup-Sub, X-Stepup-Scope, X-Stepup-Sid,
	// X-Stepup-Grant.
	Headers *IdentityHeaders `json:"headers,omitempty"`

	app       *App
	logger    *zap.Logger
	responses enforcementResponses // Bearer scheme
	dpopResp  enforcementResponses // DPoP scheme
	stripper  *enforce.HeaderStripper
	binding   *enforce.Binding
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
	return h.setup(app)
}

// setup fills in defaults and builds the handler's checks over app.
func (h *Handler) setup(app *App) error {
	h.app = app
	if h.Realm == "" {
		h.Realm = defaultRealm
	}
	if h.BodyLimit == 0 {
		h.BodyLimit = enforce.DefaultBodyLimit
	}
	if h.Headers == nil {
		h.Headers = new(IdentityHeaders)
	}
	h.Headers.setDefaults()
	h.responses = newEnforcementResponses("Bearer", "", h.Realm, defaultStepUpRequestPath)
	h.dpopResp = newEnforcementResponses("DPoP", dpopChallengeParams(app.dpopAlgorithms()), h.Realm, defaultStepUpRequestPath)
	patterns := append([]string{enforce.ReservedHeaderPrefix, h.Headers.Subject, h.Headers.Scope, h.Headers.Session, h.Headers.Grant},
		app.strippedHeaders()...)
	var err error
	if h.stripper, err = enforce.NewHeaderStripper(patterns); err != nil {
		return fmt.Errorf("strip_headers: %v", err)
	}
	h.binding = enforce.NewBinding(h.Bind)
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
	if h.BodyLimit < 0 {
		return errors.New("body_limit must not be negative")
	}
	if h.app != nil && !h.app.trustsIssuers() {
		return errors.New("the stepup app trusts no issuer: set `issuer` or add a `trust` block in the stepup global option")
	}
	if len(h.Bind) > 0 {
		if err := h.validateBind(); err != nil {
			return fmt.Errorf("bind: %v", err)
		}
	}
	return nil
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

// ServeHTTP enforces the route's scopes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.stripper.Strip(r.Header)

	cred, problem := enforce.ParseAuthorization(r.Header["Authorization"])
	resp := &h.responses
	if cred.Scheme == enforce.DPoP {
		resp = &h.dpopResp
	}
	rt := h.app.runtime()
	if rt == nil {
		return resp.write(w, &resp.unavailable) // the app has not started (yet)
	}
	if refusal := h.checkOneCredential(r, resp); refusal != nil {
		return resp.write(w, refusal)
	}
	switch problem {
	case enforce.Missing:
		return resp.write(w, &resp.noToken)
	case enforce.Malformed:
		return resp.write(w, &resp.badRequest)
	case enforce.Oversize:
		return resp.write(w, &resp.invalidToken)
	}
	claims, err := rt.tokens.Verify(r.Context(), cred.Token)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			h.logger.Error("verifying access token: key source unavailable", zap.Error(err))
			return resp.write(w, &resp.unavailable)
		}
		h.debug("access token refused", err)
		return resp.write(w, &resp.invalidToken)
	}
	if refusal := h.checkSenderConstraint(w, r, rt, cred, claims, resp); refusal != nil {
		return resp.write(w, refusal)
	}

	if missing := missingScopes(h.Scopes, h.Any, claims.Scope); len(missing) > 0 {
		return resp.write(w, h.scopeProblem(resp, missing))
	}
	grant, refusal := h.useGrant(r, rt, claims, resp)
	if refusal != nil {
		return resp.write(w, refusal)
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

// checkOneCredential refuses a request that carries (or may carry) an
// access token besides its Authorization header: RFC 6750 §3.1 allows one
// method per request, and an upstream reading the other token would act
// for whoever that token names. Form bodies are read whole (up to
// BodyLimit) and handed on unchanged.
func (h *Handler) checkOneCredential(r *http.Request, resp *enforcementResponses) *response {
	if len(r.Header["Content-Type"]) > 1 {
		return &resp.badRequest
	}
	if r.URL.RawQuery != "" && enforce.HasAccessToken(r.URL.RawQuery) {
		return &resp.badRequest
	}
	kind, err := enforce.ClassifyBody(r.Header["Content-Type"])
	if err != nil {
		return &resp.badRequest
	}
	if kind == enforce.OpaqueBody || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if len(r.Header["Content-Encoding"]) > 0 {
		return &resp.badRequest // a compressed form can't be inspected
	}
	raw, err := h.readBody(r)
	if err != nil {
		return h.bodyProblem(resp, err)
	}
	if err := enforce.InspectForm(kind, r.Header.Get("Content-Type"), raw); err != nil {
		h.debug("form body refused", err)
		return &resp.badRequest
	}
	return nil
}

// readBody reads the whole body (at most BodyLimit) and puts exactly those
// bytes back for the upstream, with their length.
func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	raw, err := enforce.ReadBody(r.Body, h.BodyLimit)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	r.TransferEncoding = nil
	r.Header["Content-Length"] = []string{strconv.Itoa(len(raw))}
	return raw, nil
}

func (h *Handler) bodyProblem(resp *enforcementResponses, err error) *response {
	if errors.Is(err, enforce.ErrBodyTooLarge) {
		return &resp.tooLarge
	}
	return &resp.badRequest
}

// checkSenderConstraint applies RFC 9449 §7: a token bound to a key (cnf)
// only with the DPoP scheme and a proof of that key; the DPoP scheme only
// with such a token. Tokens the gateway mints are bearer tokens.
func (h *Handler) checkSenderConstraint(w http.ResponseWriter, r *http.Request, rt *runtime, cred enforce.Credential, claims *jwks.Claims, resp *enforcementResponses) *response {
	if cred.Scheme == enforce.Bearer {
		if claims.Confirmed {
			return &resp.invalidToken // no downgrade to a bearer token
		}
		return nil
	}
	if claims.JKT == "" {
		return &resp.invalidToken
	}
	proofs := enforce.ProofChecker{Verifier: rt.resourceProofs, Store: rt.store}
	if h.DPoPNonce {
		proofs.Nonces = rt.nonces
	}
	err := proofs.Check(r.Context(), r.Header, r.Method, h.requestURL(r), cred.Token, claims.JKT)
	if proofs.Nonces != nil {
		w.Header().Set("DPoP-Nonce", proofs.Nonces.Issue())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, enforce.ErrKeyBinding):
		return &resp.invalidToken
	case errors.Is(err, enforce.ErrNonceRequired):
		return &resp.useNonce
	case errors.Is(err, enforce.ErrReplayStoreUnavailable):
		h.logger.Error("recording a DPoP proof: store unavailable", zap.Error(err))
		return &resp.unavailable
	}
	h.debug("DPoP proof refused", err)
	return &resp.invalidProof
}

// requestURL is the URL the client addressed, as a DPoP proof's htu names
// it: scheme and host as the client saw them (from X-Forwarded-Proto and
// X-Forwarded-Host when a trusted proxy sent the request) and the path
// before any rewrite.
func (h *Handler) requestURL(r *http.Request) string {
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
	path := r.URL.EscapedPath()
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		path = orig.URL.EscapedPath()
	}
	return scheme + "://" + host + path
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

func (h *Handler) debug(msg string, err error) {
	if ce := h.logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(zap.Error(err))
	}
}

// scopeProblem chooses between a step-up challenge (some missing scope can
// be stepped up) and a plain refusal.
func (h *Handler) scopeProblem(resp *enforcementResponses, missing []string) *response {
	var stepUp []string
	for _, s := range missing {
		if h.app.canStepUp(s) {
			stepUp = append(stepUp, s)
		}
	}
	if len(stepUp) > 0 {
		return resp.stepUp(strings.Join(stepUp, " "))
	}
	return resp.insufficientScope(strings.Join(missing, " "))
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

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
