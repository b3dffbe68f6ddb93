// Package sessionapi serves the session and step-up API that the Prelude
// web SDK (@prelude.so/js-sdk 0.6.0) speaks (prelude-protocol.md), and the
// gateway's public keys, over plain net/http: routes, cookies, CORS, the
// cross-site guard, DPoP headers and nonces, body limits and the JSON
// error shape. It decides no policy: every decision is the engine's
// (stepup), every status comes from apierror. The Caddy handler
// stepup_session is a thin wrapper around it.
package sessionapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

// Prefix is where the SDK's API lives; anything may stand before it (the
// SDK's `domain` may carry a path prefix).
const Prefix = "/v1/session"

// deviceCookieLifetime is how long a client stays a known device of the
// identifier it logged in with (stepup/device.go).
const deviceCookieLifetime = 180 * 24 * time.Hour

// maxBodyBytes caps session API request bodies.
const maxBodyBytes = 64 << 10

// Cookie names. `__Host-` cookies are Secure, Path=/ and host-only.
const (
	refreshCookie      = "__Host-stepup-refresh"
	loginCookie        = "__Host-stepup-login"
	otpCookie          = "__Host-stepup-otp"
	deviceCookie       = "__Host-stepup-device"
	oauthCookie        = "__Host-stepup-oauth" // the browser binding of OAuth logins
	verificationHeader = "X-Verification-Token"
	refreshHeader      = "X-Refresh-Token"
	// refreshExpiresHeader carries the refresh token's expiry (RFC 3339),
	// which the SDKs store beside it.
	refreshExpiresHeader = "X-Refresh-Token-Expires-At"
	deviceIDHeader       = "X-Device-Id"
)

// Config is what the API serves with.
type Config struct {
	// Engine runs logins, sessions and step-ups. Nil: every endpoint
	// answers not_configured.
	Engine *stepup.Engine
	// Tokens verifies access tokens; only those of Issuer are accepted here.
	Tokens *jwks.Verifier
	Issuer string
	// Nonces issues and checks DPoP nonces (shared by every instance).
	Nonces *dpop.Nonces
	// ExternalOrigin is the origin clients call (scheme://host[:port]):
	// DPoP proofs name it, and POSTs from it are not cross-site.
	ExternalOrigin string
	// CORS are the other origins allowed to call with credentials.
	CORS []string
	// JWKS is the gateway's public key set document.
	JWKS   []byte
	Logger *zap.Logger
	// ClientIP is the request's client address as the server determined it
	// (behind trusted proxies); default: none.
	ClientIP func(*http.Request) string
	// OriginalPath is the path the client addressed, before any rewrite;
	// default r.URL.EscapedPath().
	OriginalPath func(*http.Request) string
	// Now is the clock DPoP proofs' iat is checked against; default
	// time.Now. Instances sharing a store pass the store's clock.
	Now func() time.Time
}

// API serves the session API and the JWKS.
type API struct {
	cfg    Config
	log    *zap.Logger
	proofs *dpop.Verifier
}

// now is the clock DPoP proofs are judged by.
func (a *API) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now()
	}
	return time.Now()
}

// New returns an API for cfg.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = func(*http.Request) string { return "" }
	}
	if cfg.OriginalPath == nil {
		cfg.OriginalPath = func(r *http.Request) string { return r.URL.EscapedPath() }
	}
	return &API{cfg: cfg, log: cfg.Logger, proofs: &dpop.Verifier{Now: cfg.Now}}
}

// Owns reports whether path is one the API answers: under /v1/session/, or
// the JWKS paths.
func Owns(path string) bool {
	_, ok := endpointOf(path)
	return ok || isJWKSPath(path)
}

// ServeHTTP answers a request for a path the API owns (see Owns); others
// get a JSON 404.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if endpoint, ok := endpointOf(r.URL.Path); ok {
		a.serveEndpoint(w, r, endpoint)
		return
	}
	if isJWKSPath(r.URL.Path) {
		a.serveJWKS(w, r)
		return
	}
	a.fail(w, r, errNotFound)
}

// route is one endpoint of the session API.
type route struct {
	method string
	serve  func(a *API, w http.ResponseWriter, r *http.Request)
}

var routes = map[string]route{
	"/login/otp":            {http.MethodPost, (*API).startLogin},
	"/login/otp/retry":      {http.MethodPost, (*API).retryLogin},
	"/login/otp/check":      {http.MethodPost, (*API).checkLogin},
	"/refresh":              {http.MethodPost, (*API).refresh},
	"/revoke":               {http.MethodPost, (*API).revoke},
	"/me/list":              {http.MethodGet, (*API).listSessions},
	"/me/revoke":            {http.MethodPost, (*API).revokeSessions},
	"/stepup/request":       {http.MethodPost, (*API).requestStepUp},
	"/otp":                  {http.MethodPost, (*API).sendStepOTP},
	"/otp/retry":            {http.MethodPost, (*API).retryStepOTP},
	"/otp/check":            {http.MethodPost, (*API).checkStepOTP},
	"/stepup/continue":      {http.MethodPost, (*API).continueStepUp},
	"/login/email/password": {http.MethodPost, (*API).passwordLogin},
	"/login/email/sign-up":  {http.MethodPost, (*API).signUp},
	"/login/finalize":       {http.MethodPost, (*API).finalizeLogin},
	"/password/compliancy":  {http.MethodGet, (*API).passwordCompliancy},

	passkeysPath:                      {http.MethodGet, (*API).listPasskeys},
	passkeysPath + "/register/begin":  {http.MethodPost, (*API).beginPasskeyRegistration},
	passkeysPath + "/register/finish": {http.MethodPost, (*API).finishPasskeyRegistration},
	"/login/passkey/begin":            {http.MethodPost, (*API).beginPasskeyLogin},
	"/login/passkey/finish":           {http.MethodPost, (*API).finishPasskeyLogin},
}

// endpointOf returns the endpoint path after /v1/session.
func endpointOf(path string) (string, bool) {
	i := strings.Index(path, Prefix+"/")
	if i < 0 {
		return "", false
	}
	return path[i+len(Prefix):], true
}

func isJWKSPath(path string) bool {
	return strings.HasSuffix(path, "/.well-known/jwks.json") || strings.HasSuffix(path, "/.well-known/step-up-jwks.json")
}

// serveEndpoint routes a request under /v1/session/.
func (a *API) serveEndpoint(w http.ResponseWriter, r *http.Request, endpoint string) {
	// Every answer says the time of the clock that judges DPoP proofs'
	// iat: the mobile SDKs correct their proofs with it (§10.2 of
	// prelude-passkeys.md), and with a shared store that clock is Redis's.
	w.Header().Set("Date", a.now().UTC().Format(http.TimeFormat))
	if a.cors(w, r) {
		return // preflight answered
	}
	if provider, action, ok := oauthEndpoint(endpoint); ok {
		a.serveOAuth(w, r, provider, action)
		return
	}
	if id, ok := passkeyCredentialPath(endpoint); ok {
		a.servePasskey(w, r, id) // Bearer only: no cookie, nothing to forge across sites
		return
	}
	rt, ok := routes[endpoint]
	if !ok {
		if strings.HasPrefix(endpoint, "/login/") || strings.HasPrefix(endpoint, "/password/") || strings.HasPrefix(endpoint, "/passkey") {
			a.notOffered(w, r)
			return
		}
		a.fail(w, r, errNotFound)
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		a.fail(w, r, errMethod)
		return
	}
	if a.cfg.Engine == nil {
		a.fail(w, r, stepup.ErrNotConfigured)
		return
	}
	if a.crossSite(r) {
		a.fail(w, r, errCrossSite)
		return
	}
	rt.serve(a, w, r)
}

// crossSite reports a POST that a browser sent from a page of another
// site. Cookies authenticate some endpoints (the refresh token on /revoke,
// the login and OTP contexts on the resends), so such a request could be
// forged (CSRF): only the site's own origin and the `cors` origins may
// post. Requests without Origin or Fetch Metadata are not from a browser
// page and cannot carry a victim's cookies by forgery.
func (a *API) crossSite(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	switch origins := r.Header.Values("Origin"); len(origins) {
	case 0:
		return r.Header.Get("Sec-Fetch-Site") == "cross-site"
	case 1:
		o := origins[0]
		return o != a.cfg.ExternalOrigin && o != requestOrigin(r) && !slices.Contains(a.cfg.CORS, o)
	default:
		return true
	}
}

// requestOrigin is the origin the request was addressed to.
func requestOrigin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// httpError is a refusal of the HTTP layer itself (routing, method).
type httpError struct {
	kind          apierror.Kind
	code, message string
}

func (e *httpError) Error() string { return e.code + ": " + e.message }

var (
	errNotFound  = &httpError{apierror.NotFound, "not_found", "No such endpoint."}
	errMethod    = &httpError{apierror.MethodNotAllowed, "bad_request", "Method not allowed."}
	errCrossSite = &httpError{apierror.Forbidden, "forbidden", "Requests from this origin are not allowed."}
)

func (a *API) notOffered(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, stepup.ErrNotConfigured)
}

func (a *API) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		a.fail(w, r, errMethod)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/jwk-set+json")
	hdr.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(a.cfg.JWKS)
	}
}

// cors applies the CORS policy (prelude-protocol.md §3.4) for configured
// origins, and answers preflights; it reports whether it answered.
func (a *API) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	allowed := origin != "" && slices.Contains(a.cfg.CORS, origin)
	hdr := w.Header()
	if allowed {
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
		hdr.Set("Access-Control-Expose-Headers", "DPoP-Nonce, X-Refresh-Token, X-Refresh-Token-Expires-At, X-Verification-Token, Date")
	}
	if origin != "" {
		hdr.Add("Vary", "Origin")
	}
	if r.Method != http.MethodOptions {
		return false
	}
	if allowed {
		hdr.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP, X-Device-Id, X-Refresh-Token, X-SDK-User-Agent, X-Verification-Token")
		hdr.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

var _ http.Handler = (*API)(nil)
