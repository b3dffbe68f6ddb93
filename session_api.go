package caddystepup

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

// sessionAPIPrefix is where the SDK's API lives; anything may stand before
// it (the SDK's `domain` may carry a path prefix).
const sessionAPIPrefix = "/v1/session"

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
	verificationHeader = "X-Verification-Token"
)

// sessionRoute is one endpoint of the session API.
type sessionRoute struct {
	method string
	serve  func(s *SessionHandler, w http.ResponseWriter, r *http.Request) error
}

var sessionRoutes = map[string]sessionRoute{
	"/login/otp":           {http.MethodPost, (*SessionHandler).startLogin},
	"/login/otp/retry":     {http.MethodPost, (*SessionHandler).retryLogin},
	"/login/otp/check":     {http.MethodPost, (*SessionHandler).checkLogin},
	"/refresh":             {http.MethodPost, (*SessionHandler).refresh},
	"/revoke":              {http.MethodPost, (*SessionHandler).revoke},
	"/me/list":             {http.MethodGet, (*SessionHandler).listSessions},
	"/me/revoke":           {http.MethodPost, (*SessionHandler).revokeSessions},
	"/stepup/request":      {http.MethodPost, (*SessionHandler).requestStepUp},
	"/otp":                 {http.MethodPost, (*SessionHandler).sendStepOTP},
	"/otp/retry":           {http.MethodPost, (*SessionHandler).retryStepOTP},
	"/otp/check":           {http.MethodPost, (*SessionHandler).checkStepOTP},
	"/stepup/continue":     {http.MethodPost, (*SessionHandler).continueStepUp},
	"/login/finalize":      {http.MethodPost, (*SessionHandler).notOffered},
	"/password/compliancy": {http.MethodGet, (*SessionHandler).notOffered},
}

// sessionPath returns the endpoint path after /v1/session, if r is for
// the session API.
func sessionPath(path string) (string, bool) {
	i := strings.Index(path, sessionAPIPrefix+"/")
	if i < 0 {
		return "", false
	}
	return path[i+len(sessionAPIPrefix):], true
}

// serveSessionAPI routes a request under /v1/session/.
func (s *SessionHandler) serveSessionAPI(w http.ResponseWriter, r *http.Request, endpoint string) error {
	if s.cors(w, r) {
		return nil // preflight answered
	}
	route, ok := sessionRoutes[endpoint]
	if !ok {
		if strings.HasPrefix(endpoint, "/login/") || strings.HasPrefix(endpoint, "/password/") || strings.HasPrefix(endpoint, "/passkey") {
			return s.notOffered(w, r)
		}
		return s.fail(w, r, errNotFound)
	}
	if r.Method != route.method {
		w.Header().Set("Allow", route.method)
		return s.fail(w, r, errMethod)
	}
	if s.engine == nil {
		return s.fail(w, r, stepup.ErrNotConfigured)
	}
	if s.crossSite(r) {
		return s.fail(w, r, errCrossSite)
	}
	return route.serve(s, w, r)
}

// crossSite reports a POST that a browser sent from a page of another
// site. Cookies authenticate some endpoints (the refresh token on /revoke,
// the login and OTP contexts on the resends), so such a request could be
// forged (CSRF): only the site's own origin and the `cors` origins may
// post. Requests without Origin or Fetch Metadata are not from a browser
// page and cannot carry a victim's cookies by forgery.
func (s *SessionHandler) crossSite(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	switch origins := r.Header.Values("Origin"); len(origins) {
	case 0:
		return r.Header.Get("Sec-Fetch-Site") == "cross-site"
	case 1:
		o := origins[0]
		return o != s.app.externalOrigin && o != requestOrigin(r) && !containsString(s.app.CORS, o)
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

var (
	errNotFound  = &stepup.Error{Kind: stepup.KindNotFound, Code: "not_found", Message: "No such endpoint."}
	errMethod    = &stepup.Error{Kind: kindMethodNotAllowed, Code: "bad_request", Message: "Method not allowed."}
	errCrossSite = &stepup.Error{Kind: stepup.KindForbidden, Code: "forbidden", Message: "Requests from this origin are not allowed."}
)

// kindMethodNotAllowed extends the engine's kinds for routing errors.
const kindMethodNotAllowed stepup.Kind = 100

func (s *SessionHandler) notOffered(w http.ResponseWriter, r *http.Request) error {
	return s.fail(w, r, stepup.ErrNotConfigured)
}

// --- login ---

func (s *SessionHandler) startLogin(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Identifier struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"identifier"`
	}
	if err := readJSON(r, &body, true); err != nil {
		return s.fail(w, r, err)
	}
	flowID, err := s.engine.StartLogin(r.Context(), body.Identifier.Type, body.Identifier.Value, clientInfo(r))
	if err != nil {
		return s.fail(w, r, err)
	}
	s.setCookie(w, loginCookie, flowID, 15*time.Minute)
	w.Header().Set(verificationHeader, flowID)
	return s.noContent(w)
}

func (s *SessionHandler) retryLogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.engine.RetryLogin(r.Context(), flowContext(r, loginCookie), clientInfo(r)); err != nil {
		return s.fail(w, r, err)
	}
	return s.noContent(w)
}

func (s *SessionHandler) checkLogin(w http.ResponseWriter, r *http.Request) error {
	proof, err := s.sessionProof(w, r, true)
	if err != nil {
		return s.fail(w, r, err)
	}
	var body struct {
		Code string `json:"code"`
	}
	if err := readJSON(r, &body, true); err != nil {
		return s.fail(w, r, err)
	}
	tokens, err := s.engine.CheckLogin(r.Context(), flowContext(r, loginCookie), body.Code, proof, clientInfo(r))
	if err != nil {
		return s.fail(w, r, err)
	}
	s.clearCookie(w, loginCookie)
	s.setCookie(w, deviceCookie, tokens.Device, deviceCookieLifetime)
	return s.sendTokens(w, tokens)
}

// --- refresh and logout ---

func (s *SessionHandler) refresh(w http.ResponseWriter, r *http.Request) error {
	proof, err := s.sessionProof(w, r, true)
	if err != nil {
		return s.fail(w, r, err)
	}
	var body struct {
		StepUpToken string `json:"step_up_token"`
	}
	if err := readJSON(r, &body, false); err != nil {
		return s.fail(w, r, err)
	}
	tokens, err := s.engine.Refresh(r.Context(), stepup.RefreshRequest{
		RefreshToken: refreshToken(r), Proof: proof, StepUpToken: body.StepUpToken, Client: clientInfo(r),
	})
	if err != nil {
		if errors.Is(err, stepup.ErrUnauthorized) {
			s.clearCookie(w, refreshCookie)
		}
		return s.fail(w, r, err)
	}
	return s.sendTokens(w, tokens)
}

func (s *SessionHandler) revoke(w http.ResponseWriter, r *http.Request) error {
	// The SDK sends a proof only when it has a key; logout without one
	// (cookie only) is allowed.
	proof, err := s.sessionProof(w, r, false)
	if err != nil {
		return s.fail(w, r, err)
	}
	if tok := refreshToken(r); tok != "" {
		if err := s.engine.Revoke(r.Context(), tok, proof); err != nil && !errors.Is(err, stepup.ErrUnauthorized) {
			return s.fail(w, r, err)
		}
	}
	// Unknown or already revoked tokens end the same way: logged out.
	s.clearCookie(w, refreshCookie)
	return s.noContent(w)
}

// --- session list ---

func (s *SessionHandler) listSessions(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.bearer(r)
	if err != nil {
		return s.fail(w, r, err)
	}
	limit, offset := 10, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			return s.fail(w, r, stepup.ErrInvalidPagination)
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil {
			return s.fail(w, r, stepup.ErrInvalidOffset)
		}
	}
	sessions, total, err := s.engine.ListSessions(r.Context(), caller.UserID, limit, offset)
	if err != nil {
		return s.fail(w, r, err)
	}
	type sessionJSON struct {
		ID          string `json:"id"`
		DeviceModel string `json:"device_model"`
		DeviceType  string `json:"device_type"`
		OSVersion   string `json:"os_version"`
		CountryCode string `json:"country_code"`
		CreatedAt   string `json:"created_at"`
		LastSeenAt  string `json:"last_seen_at"`
		ExpiresAt   string `json:"expires_at"`
		Current     bool   `json:"current"`
	}
	list := make([]sessionJSON, 0, len(sessions))
	for _, ses := range sessions {
		list = append(list, sessionJSON{
			ID: ses.ID, DeviceModel: "", DeviceType: deviceType(ses.UserAgent), OSVersion: "", CountryCode: "",
			CreatedAt: ses.CreatedAt.UTC().Format(time.RFC3339), LastSeenAt: ses.LastSeenAt.UTC().Format(time.RFC3339),
			ExpiresAt: ses.ExpiresAt.UTC().Format(time.RFC3339), Current: ses.ID == caller.SessionID,
		})
	}
	return s.ok(w, map[string]any{"sessions": list, "total": total, "limit": limit, "offset": offset})
}

func (s *SessionHandler) revokeSessions(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.bearer(r)
	if err != nil {
		return s.fail(w, r, err)
	}
	q := r.URL.Query()
	if err := s.engine.RevokeSessions(r.Context(), caller.UserID, caller.SessionID, q.Get("target"), q.Get("session_id")); err != nil {
		return s.fail(w, r, err)
	}
	return s.noContent(w)
}

// --- step-up ---

func (s *SessionHandler) requestStepUp(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.bearer(r)
	if err != nil {
		return s.fail(w, r, err)
	}
	var body struct {
		Scope    string          `json:"scope"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := readJSON(r, &body, true); err != nil {
		return s.fail(w, r, err)
	}
	metadata, err := parseMetadata(body.Metadata)
	if err != nil {
		return s.fail(w, r, err)
	}
	res, err := s.engine.RequestStepUp(r.Context(), caller, body.Scope, metadata, signals(r))
	if err != nil {
		return s.fail(w, r, err)
	}
	out := map[string]any{"status": res.Status}
	if res.ChallengeToken != "" {
		out["challenge_token"] = res.ChallengeToken
	}
	return s.ok(w, out)
}

func (s *SessionHandler) sendStepOTP(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ChallengeToken string `json:"challenge_token"`
	}
	if err := readJSON(r, &body, true); err != nil {
		return s.fail(w, r, err)
	}
	if _, err := s.engine.SendStepOTP(r.Context(), body.ChallengeToken, false, clientInfo(r)); err != nil {
		return s.fail(w, r, err)
	}
	// /otp/retry has no body: the cookie (or header) says which challenge.
	s.setCookie(w, otpCookie, body.ChallengeToken, 15*time.Minute)
	return s.noContent(w)
}

func (s *SessionHandler) retryStepOTP(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.engine.SendStepOTP(r.Context(), flowContext(r, otpCookie), true, clientInfo(r)); err != nil {
		return s.fail(w, r, err)
	}
	return s.noContent(w)
}

func (s *SessionHandler) checkStepOTP(w http.ResponseWriter, r *http.Request) error {
	proof, err := s.challengeProof(r)
	if err != nil {
		return s.fail(w, r, err)
	}
	var body struct {
		Code           string `json:"code"`
		ChallengeToken string `json:"challenge_token"`
	}
	if err := readJSON(r, &body, true); err != nil {
		return s.fail(w, r, err)
	}
	next, err := s.engine.CheckStepOTP(r.Context(), body.ChallengeToken, body.Code, proof, clientInfo(r))
	if err != nil {
		return s.fail(w, r, err)
	}
	s.clearCookie(w, otpCookie)
	return s.ok(w, map[string]string{"challenge_token": next})
}

func (s *SessionHandler) continueStepUp(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.bearer(r)
	if err != nil {
		return s.fail(w, r, err)
	}
	proof, err := s.challengeProof(r)
	if err != nil {
		return s.fail(w, r, err)
	}
	var body struct {
		ChallengeToken    string `json:"challenge_token"`
		VerificationToken string `json:"verification_token"`
	}
	if err := readJSON(r, &body, true); err != nil {
		return s.fail(w, r, err)
	}
	next, err := s.engine.ContinueStepUp(r.Context(), caller, body.ChallengeToken, body.VerificationToken, proof)
	if err != nil {
		return s.fail(w, r, err)
	}
	return s.ok(w, map[string]string{"challenge_token": next})
}

// --- credentials of a request ---

// bearer verifies the access token of a session API request: only tokens
// this gateway minted are accepted here.
func (s *SessionHandler) bearer(r *http.Request) (stepup.Caller, error) {
	cred, problem := enforce.ParseAuthorization(r.Header["Authorization"])
	if problem != enforce.OK || cred.Scheme != enforce.Bearer || enforce.HasAccessToken(r.URL.RawQuery) {
		return stepup.Caller{}, stepup.ErrUnauthorized
	}
	claims, err := s.app.tokens.Verify(r.Context(), cred.Token)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			return stepup.Caller{}, stepup.ErrUnavailable
		}
		return stepup.Caller{}, stepup.ErrUnauthorized
	}
	if claims.Issuer != s.app.Issuer {
		return stepup.Caller{}, stepup.ErrUnauthorized
	}
	return stepup.Caller{UserID: claims.Subject, SessionID: claims.SessionID}, nil
}

// sessionProof verifies the session DPoP proof of r, demanding a current
// nonce. Every response to a request with a proof carries a fresh nonce.
func (s *SessionHandler) sessionProof(w http.ResponseWriter, r *http.Request, required bool) (*dpop.Proof, error) {
	header, err := dpop.FromHeader(r.Header)
	if errors.Is(err, dpop.ErrMissingProof) {
		if required {
			return nil, stepup.ErrMissingDPoP
		}
		return nil, nil
	}
	w.Header().Set("DPoP-Nonce", s.nonces.Issue())
	if err != nil {
		return nil, stepup.ErrInvalidDPoP
	}
	proof, err := s.proofs.VerifyWithNonce(header, r.Method, s.externalURL(r), s.nonces)
	switch {
	case errors.Is(err, dpop.ErrNonceRequired):
		return nil, stepup.ErrUseDPoPNonce
	case err != nil:
		s.debug("DPoP proof refused", err)
		return nil, stepup.ErrInvalidDPoP
	}
	return proof, nil
}

// challengeProof verifies a challenge-bound proof: no nonce, and its jti
// is the challenge token's (checked by the engine).
func (s *SessionHandler) challengeProof(r *http.Request) (*dpop.Proof, error) {
	header, err := dpop.FromHeader(r.Header)
	if errors.Is(err, dpop.ErrMissingProof) {
		return nil, nil // the engine decides whether the challenge needs one
	}
	if err != nil {
		return nil, stepup.ErrInvalidDPoP
	}
	proof, err := s.proofs.Verify(header, r.Method, s.externalURL(r))
	if err != nil {
		s.debug("challenge DPoP proof refused", err)
		return nil, stepup.ErrInvalidDPoP
	}
	return proof, nil
}

// externalURL is the URL the client called, as DPoP's htu must name it:
// the configured external origin and the request's original path.
func (s *SessionHandler) externalURL(r *http.Request) string {
	path := r.URL.EscapedPath()
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		path = orig.URL.EscapedPath()
	}
	return s.app.externalOrigin + path
}

// refreshToken reads the refresh token from the X-Refresh-Token header
// (the SDK's IndexedDB copy) or the HttpOnly cookie.
func refreshToken(r *http.Request) string {
	if v := r.Header.Get("X-Refresh-Token"); v != "" {
		return v
	}
	if c, err := r.Cookie(refreshCookie); err == nil {
		return c.Value
	}
	return ""
}

// flowContext reads the OTP context: the X-Verification-Token header
// (newer SDKs) or the verification cookie (0.6.0).
func flowContext(r *http.Request, cookie string) string {
	if v := r.Header.Get(verificationHeader); v != "" {
		return v
	}
	if c, err := r.Cookie(cookie); err == nil {
		return c.Value
	}
	return ""
}

func clientInfo(r *http.Request) stepup.ClientInfo {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	ci := stepup.ClientInfo{UserAgent: r.UserAgent(), IP: ip}
	if c, err := r.Cookie(deviceCookie); err == nil {
		ci.Device = c.Value
	}
	return ci
}

func signals(r *http.Request) stepup.Signals {
	ci := clientInfo(r)
	return stepup.Signals{UserAgent: ci.UserAgent, Platform: "WEB", IP: ci.IP}
}

func deviceType(ua string) string {
	switch {
	case ua == "":
		return "unknown"
	case strings.Contains(ua, "iPad") || strings.Contains(ua, "Tablet"):
		return "tablet"
	case strings.Contains(ua, "Mobile"):
		return "mobile"
	}
	return "desktop"
}

// readJSON decodes a JSON body of at most 64 KiB. An empty body is allowed
// when the endpoint's fields are optional.
func readJSON(r *http.Request, v any, required bool) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(raw) > maxBodyBytes {
		return stepup.ErrBadRequest
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		if required {
			return stepup.ErrBadRequest
		}
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return stepup.ErrBadRequest
	}
	return nil
}

// parseMetadata accepts an object of strings only, read strictly (no
// duplicate or case-variant keys): the hook approves these values, and
// transaction binding later compares request bodies with exactly them.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	members, err := strictjson.ParseObject(raw)
	if err != nil {
		return nil, stepup.ErrInvalidMetadata
	}
	m := make(map[string]string, len(members))
	for name, v := range members {
		if v.Kind != strictjson.String {
			return nil, stepup.ErrInvalidMetadata
		}
		m[name] = v.Text
	}
	return m, nil
}

// --- responses ---

func (s *SessionHandler) sendTokens(w http.ResponseWriter, t *stepup.Tokens) error {
	hdr := w.Header()
	hdr.Set("X-Refresh-Token", t.RefreshToken)
	hdr.Set("X-Refresh-Token-Expires-At", t.RefreshExpiresAt.UTC().Format(time.RFC3339))
	s.setCookie(w, refreshCookie, t.RefreshToken, time.Until(t.RefreshExpiresAt))
	return s.ok(w, map[string]any{"access_token": t.AccessToken, "expires_at": t.ExpiresAt.Unix()})
}

func (s *SessionHandler) ok(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *SessionHandler) noContent(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// fail answers an engine error with its JSON shape and the status decided
// in handler.go. Store, hook and sender failures are logged, never shown.
func (s *SessionHandler) fail(w http.ResponseWriter, r *http.Request, err error) error {
	e := stepup.AsError(err)
	if e.Kind == stepup.KindUnavailable {
		s.logger.Error("session API request failed", zap.String("path", r.URL.Path), zap.Error(err))
	} else {
		s.debug("session API request refused", err)
	}
	var extra map[string]any
	if e.Nonce {
		if w.Header().Get("DPoP-Nonce") == "" {
			w.Header().Set("DPoP-Nonce", s.nonces.Issue())
		}
		// RFC 9449 §8: the session API's DPoP endpoints are token endpoints,
		// whose clients read OAuth's `error` member; the SDK reads `code`.
		extra = map[string]any{"error": e.Code, "error_description": e.Message}
	}
	writeJSON(w, sessionStatus(e.Kind), errorBody(e.Code, e.Message, errorType(e.Kind), extra))
	return nil
}

func (s *SessionHandler) debug(msg string, err error) {
	if ce := s.logger.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(zap.Error(err))
	}
}

func (s *SessionHandler) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true,
		SameSite: s.sameSite(), MaxAge: int(maxAge.Seconds())})
}

func (s *SessionHandler) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: s.sameSite(), MaxAge: -1})
}

// sameSite is None when the API serves other origins (CORS), so that the
// browser sends the cookies on credentialed cross-site requests.
func (s *SessionHandler) sameSite() http.SameSite {
	if len(s.app.CORS) > 0 {
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// cors applies the CORS policy (prelude-protocol.md §3.4) for configured
// origins, and answers preflights; it reports whether it answered.
func (s *SessionHandler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	allowed := origin != "" && containsString(s.app.CORS, origin)
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
		hdr.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP, X-Refresh-Token, X-SDK-User-Agent, X-Verification-Token")
		hdr.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
