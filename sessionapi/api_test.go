package sessionapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const origin = "https://api.test"

// codes is the OTP sender of the tests: it keeps what it sends.
type codes struct {
	mu   sync.Mutex
	msgs []otp.Message
}

func (c *codes) Send(_ context.Context, m otp.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *codes) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.msgs) == 0 {
		return ""
	}
	return c.msgs[len(c.msgs)-1].Code
}

type env struct {
	api   *API
	codes *codes
	srv   *httptest.Server
}

// newEnv is the API over a real engine (memory store), served by
// httptest for the client-driven cases.
func newEnv(t *testing.T, cors ...string) *env {
	t.Helper()
	return newEnvWith(t, cors, nil)
}

// newEnvWith is newEnv with the engine's configuration changed first.
func newEnvWith(t testing.TB, cors []string, change func(*stepup.Config)) *env {
	t.Helper()
	return newEnvCached(t, cors, change, 0)
}

// newEnvCached is newEnvWith whose verifiers of access and challenge
// tokens remember cacheSize tokens (0: none), the tokens the engine signs
// admitted to them as the gateway does.
func newEnvCached(t testing.TB, cors []string, change func(*stepup.Config), cacheSize int) *env {
	t.Helper()
	signer, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	sender := &codes{}
	challenges, err := jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{Issuer: origin, Audiences: []string{origin},
		Keys: signer.KeySource(), Algorithms: []string{"ES256"}, Types: []string{stepup.ChallengeTokenType}}}, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{Issuer: origin, Audiences: []string{origin},
		Keys: signer.KeySource(), Algorithms: []string{"ES256"}, Types: []string{"at+jwt"}}}, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	cfg := stepup.Config{Issuer: origin, Signer: signer, Store: mem, Sender: sender,
		LoginIdentifiers: []string{stepup.IdentifierPhone}, ChallengeVerifier: challenges, HookSigner: signer,
		Scopes: map[string]stepup.ScopePolicy{"transfer:write": {Direct: &stepup.DirectPolicy{
			GrantMode: stepup.GrantSingleUse, GrantedFor: 60 * time.Second, Steps: []stepup.DirectStep{{Key: stepup.StepVerifySMS, Expiration: 60 * time.Second}}}}},
		OTP: stepup.OTPPolicy{ResendCooldown: time.Millisecond}}
	if cacheSize > 0 {
		cfg.AccessTokens, cfg.ChallengeMemory = tokens, cacheSize
	}
	if change != nil {
		change(&cfg)
	}
	engine, err := stepup.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{codes: sender}
	e.api = New(Config{Engine: engine, Tokens: tokens, Issuer: origin, Nonces: dpop.NewNonces(nil, 0),
		ExternalOrigin: origin, CORS: cors, JWKS: signer.PublicJWKS(),
		ClientIP: func(*http.Request) string { return "192.0.2.1" }})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// client is an SDK-like client of the API whose proofs name origin.
func (e *env) client() *sessionclient.Client {
	c := sessionclient.New(e.srv.URL)
	c.Origin = origin
	return c
}

func (e *env) login(t *testing.T) *sessionclient.Client {
	t.Helper()
	c := e.client()
	if r, err := c.StartLogin("phone_number", "+33612345678"); err != nil || r.Status != 204 {
		t.Fatalf("login/otp: %v %v", r, err)
	}
	if r, err := c.CheckLogin(e.codes.last()); err != nil || r.Status != 200 {
		t.Fatalf("login/otp/check: %v %v", r, err)
	}
	return c
}

// call sends one request straight to the handler.
func (e *env) call(method, path, body string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, origin+path, strings.NewReader(body))
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return w
}

type refusal struct {
	Code, Message, Type string
	Error               string
}

func decode(t *testing.T, w *httptest.ResponseRecorder) refusal {
	t.Helper()
	var b refusal
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", w.Header())
	}
	return b
}

func expect(t *testing.T, w *httptest.ResponseRecorder, status int, code string) refusal {
	t.Helper()
	if w.Code != status {
		t.Errorf("status %d, want %d (%s)", w.Code, status, w.Body)
	}
	b := decode(t, w)
	if b.Code != code || b.Message == "" || b.Type == "" {
		t.Errorf("body %+v, want code %q", b, code)
	}
	return b
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/session/nope", "/v1/session/", "/prefix/v1/session/nope"} {
		expect(t, e.call("POST", path, "", nil), 404, "not_found")
	}
	for _, path := range []string{"/v1/session/login/password", "/v1/session/login/oauth/google", "/v1/session/passkey/register",
		"/v1/session/login/finalize", "/v1/session/password/reset"} {
		expect(t, e.call("POST", path, "{}", nil), 403, "not_configured")
	}
	expect(t, e.call("GET", "/v1/session/password/compliancy", "", nil), 403, "not_configured")
	for path, method := range map[string]string{"/v1/session/login/otp": "GET", "/v1/session/refresh": "PUT", "/v1/session/me/list": "POST"} {
		w := e.call(method, path, "", nil)
		expect(t, w, 405, "bad_request")
		if w.Header().Get("Allow") == "" {
			t.Errorf("%s %s: no Allow", method, path)
		}
	}
	// Anything may stand before /v1/session (the SDK's domain may have a path).
	w := e.call("POST", "/api/gw/v1/session/login/otp", `{"identifier":{"type":"phone_number","value":"+33612345678"}}`, nil)
	if w.Code != 204 {
		t.Errorf("prefixed path: %d %s", w.Code, w.Body)
	}
	for path, want := range map[string]bool{"/v1/session/x": true, "/a/v1/session/refresh": true, "/.well-known/jwks.json": true,
		"/x/.well-known/step-up-jwks.json": true, "/v1/sessionx": false, "/api/transfers": false} {
		if Owns(path) != want {
			t.Errorf("Owns(%q) = %v", path, !want)
		}
	}
}

func TestJWKS(t *testing.T) {
	e := newEnv(t)
	w := e.call("GET", "/.well-known/jwks.json", "", nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/jwk-set+json" || json.Unmarshal(w.Body.Bytes(), &set) != nil ||
		len(set.Keys) != 1 || set.Keys[0]["d"] != nil {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := e.call("HEAD", "/.well-known/step-up-jwks.json", "", nil); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d %q", w.Code, w.Body)
	}
	expect(t, e.call("POST", "/.well-known/jwks.json", "", nil), 405, "bad_request")
}

func TestNotConfigured(t *testing.T) {
	a := New(Config{ExternalOrigin: origin})
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest("POST", origin+"/v1/session/login/otp", strings.NewReader("{}")))
	expect(t, w, 403, "not_configured")
}

func TestCORS(t *testing.T) {
	e := newEnv(t, "https://app.example.com")
	w := e.call("OPTIONS", "/v1/session/refresh", "", http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"POST"}})
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		w.Header().Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Errorf("allowed preflight: %d %v", w.Code, w.Header())
	}
	w = e.call("OPTIONS", "/v1/session/refresh", "", http.Header{"Origin": {"https://evil.example"}})
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("foreign preflight: %d %v", w.Code, w.Header())
	}
	w = e.call("POST", "/v1/session/login/otp", `{"identifier":{"type":"phone_number","value":"+33612345678"}}`, http.Header{"Origin": {"https://app.example.com"}})
	if w.Code != 204 || !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "DPoP-Nonce") || !strings.Contains(w.Header().Get("Vary"), "Origin") {
		t.Errorf("credentialed call: %d %v", w.Code, w.Header())
	}
	if c := w.Header().Get("Set-Cookie"); !strings.Contains(c, "SameSite=None") {
		t.Errorf("with cors, cookies must be SameSite=None: %q", c)
	}
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	e := newEnv(t, "https://app.example.com")
	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}}, {"Origin": {"null"}}, {"Origin": {origin, "https://evil.example"}},
		{"Sec-Fetch-Site": {"cross-site"}},
	} {
		for _, path := range []string{"/v1/session/revoke", "/v1/session/login/otp/retry", "/v1/session/otp/retry", "/v1/session/refresh", "/v1/session/login/otp"} {
			expect(t, e.call("POST", path, "", h), 403, "forbidden")
		}
	}
	for _, h := range []http.Header{{"Origin": {origin}}, {"Origin": {"https://app.example.com"}}, {"Sec-Fetch-Site": {"same-origin"}}, {}} {
		w := e.call("POST", "/v1/session/revoke", "", h)
		if w.Code != 204 {
			t.Errorf("%v: %d %s", h, w.Code, w.Body)
		}
	}
}

func TestCookies(t *testing.T) {
	e := newEnv(t)
	w := e.call("POST", "/v1/session/login/otp", `{"identifier":{"type":"phone_number","value":"+33612345678"}}`, nil)
	c := w.Header().Get("Set-Cookie")
	for _, part := range []string{"__Host-stepup-login=vfy_", "Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=900"} {
		if !strings.Contains(c, part) {
			t.Errorf("login cookie %q lacks %q", c, part)
		}
	}
	// The flow ID is in the cookie and, for clients without cookies, in
	// X-Verification-Token: the same value, an answer kept out of logs.
	if v := w.Header().Get(verificationHeader); v == "" || !strings.Contains(w.Header().Get("Set-Cookie"), loginCookie+"="+v+";") {
		t.Errorf("X-Verification-Token %q does not match the login cookie %q", v, w.Header().Get("Set-Cookie"))
	}
	if !AnswerCarriesSecret(w.Header()) {
		t.Error("a login start's answer is not marked as carrying a secret")
	}
	// Logout with a refresh token takes the session's proof: without one,
	// nothing is looked up, nothing cleared, whatever the token.
	for _, h := range []http.Header{{"Cookie": {"__Host-stepup-refresh=ses_x.1.y"}}, {refreshHeader: {"ses_x.1.y"}}} {
		w = e.call("POST", "/v1/session/revoke", "", h)
		expect(t, w, 400, "missing_dpop_proof")
		if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("a refused logout set cookies: %q", sc)
		}
	}
	// Without a token there is nothing to end: the cookie is cleared.
	w = e.call("POST", "/v1/session/revoke", "", nil)
	if w.Code != 204 || !strings.Contains(w.Header().Get("Set-Cookie"), "__Host-stepup-refresh=;") || !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %v", w.Code, w.Header())
	}
}

func TestBodies(t *testing.T) {
	e := newEnv(t)
	big := `{"identifier":{"type":"phone_number","value":"+33612345678"},"pad":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	for name, body := range map[string]string{"empty": "", "not JSON": "phone", "array": "[]", "over 64 KiB": big} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.call("POST", "/v1/session/login/otp", body, nil), 400, "bad_request")
		})
	}
	expect(t, e.call("POST", "/v1/session/login/otp", `{"identifier":{"type":"phone_number","value":"12"}}`, nil), 400, "invalid_identifier")
	// At the limit exactly, a body is read; one byte more is refused, on
	// every endpoint that reads one.
	atLimit := func(extra int) string {
		head := `{"identifier":{"type":"phone_number","value":"+33612345679"},"pad":"`
		return head + strings.Repeat("x", maxBodyBytes-len(head)-2+extra) + `"}`
	}
	if body := atLimit(0); len(body) != maxBodyBytes {
		t.Fatalf("built %d bytes", len(body))
	}
	if w := e.call("POST", "/v1/session/login/otp", atLimit(0), nil); w.Code != 204 {
		t.Errorf("a body of exactly %d bytes: %d %s", maxBodyBytes, w.Code, w.Body)
	}
	bearer := http.Header{"Authorization": {"Bearer " + e.login(t).AccessToken}}
	for _, path := range []string{"/v1/session/login/otp", "/v1/session/stepup/request", "/v1/session/otp", "/v1/session/otp/check", "/v1/session/stepup/continue"} {
		expect(t, e.call("POST", path, atLimit(1), bearer), 400, "bad_request")
	}
}

// TestDPoPHeaders: the nonce dance of the SDK, readable by RFC 9449
// clients, and a fresh nonce on every answer to a DPoP request.
func TestDPoPHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	if r, err := c.StartLogin("phone_number", "+33612345678"); err != nil || r.Status != 204 {
		t.Fatal(r, err)
	}
	path := "/v1/session/login/otp/check"
	h := http.Header{verificationHeader: {c.Verification}}
	expect(t, e.call("POST", path, `{"code":"1"}`, h), 400, "missing_dpop_proof")
	h.Set("DPoP", c.Proof("POST", path, "j1", ""))
	w := e.call("POST", path, `{"code":"1"}`, h)
	b := expect(t, w, 400, "use_dpop_nonce")
	nonce := w.Header().Get("DPoP-Nonce")
	if nonce == "" || b.Error != "use_dpop_nonce" {
		t.Fatalf("nonce demand: nonce %q, error member %q", nonce, b.Error)
	}
	h.Set("DPoP", c.Proof("POST", path, "j2", nonce))
	w = e.call("POST", path, `{"code":"000000"}`, h)
	if w.Header().Get("DPoP-Nonce") == "" {
		t.Error("an error answer to a DPoP request has no DPoP-Nonce")
	}
	h.Set("DPoP", c.Proof("POST", "/v1/session/refresh", "j3", nonce))
	expect(t, e.call("POST", path, `{"code":"000000"}`, h), 400, "invalid_dpop_proof")
	h.Set("DPoP", "not-a-proof")
	expect(t, e.call("POST", path, `{"code":"000000"}`, h), 400, "invalid_dpop_proof")
	h["Dpop"] = []string{c.Proof("POST", path, "j4", nonce), c.Proof("POST", path, "j5", nonce)}
	expect(t, e.call("POST", path, `{"code":"000000"}`, h), 400, "invalid_dpop_proof")
}

// TestEndpointRefusals: each endpoint's refusal of missing or wrong
// credentials, in the SDK's shape and status.
func TestEndpointRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.login(t)
	bearer := http.Header{"Authorization": {"Bearer " + c.AccessToken}}
	for _, tc := range []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		code                     string
	}{
		{"retry without a flow", "POST", "/v1/session/login/otp/retry", "", nil, 400, "bad_request"},
		{"check without a flow", "POST", "/v1/session/login/otp/check", `{"code":"1"}`, http.Header{"Dpop": {c.Proof("POST", "/v1/session/login/otp/check", "a", c.Nonce)}}, 400, "bad_request"},
		{"refresh without a proof", "POST", "/v1/session/refresh", "", nil, 400, "missing_dpop_proof"},
		{"refresh without a token", "POST", "/v1/session/refresh", "", http.Header{"Dpop": {c.Proof("POST", "/v1/session/refresh", "b", c.Nonce)}}, 401, "unauthorized"},
		{"refresh with garbage", "POST", "/v1/session/refresh", "", http.Header{"X-Refresh-Token": {"garbage"}, "Dpop": {c.Proof("POST", "/v1/session/refresh", "c", c.Nonce)}}, 401, "unauthorized"},
		{"refresh with another key", "POST", "/v1/session/refresh", "", http.Header{"X-Refresh-Token": {c.RefreshToken}, "Dpop": {e.client().Proof("POST", "/v1/session/refresh", "d", c.Nonce)}}, 400, "dpop_key_mismatch"},
		{"refresh with a bad body", "POST", "/v1/session/refresh", "[", http.Header{"X-Refresh-Token": {c.RefreshToken}, "Dpop": {c.Proof("POST", "/v1/session/refresh", "e", c.Nonce)}}, 400, "bad_request"},
		{"list without a token", "GET", "/v1/session/me/list", "", nil, 401, "unauthorized"},
		{"list with a bad limit", "GET", "/v1/session/me/list?limit=x", "", bearer, 400, "invalid_pagination_limit"},
		{"list with a bad offset", "GET", "/v1/session/me/list?offset=-1", "", bearer, 400, "invalid_pagination_offset"},
		{"list with access_token in the query", "GET", "/v1/session/me/list?access_token=x", "", bearer, 401, "unauthorized"},
		{"list with a DPoP scheme", "GET", "/v1/session/me/list", "", http.Header{"Authorization": {"DPoP " + c.AccessToken}}, 401, "unauthorized"},
		{"revoke sessions with a bad target", "POST", "/v1/session/me/revoke?target=x", "", bearer, 400, "bad_request"},
		{"revoke an unknown session", "POST", "/v1/session/me/revoke?target=session&session_id=ses_x", "", bearer, 404, "not_found"},
		{"step-up without a token", "POST", "/v1/session/stepup/request", `{"scope":"transfer:write"}`, nil, 401, "unauthorized"},
		{"step-up for an unknown scope", "POST", "/v1/session/stepup/request", `{"scope":"admin:all"}`, bearer, 403, "scope_not_allowed"},
		{"step-up with strings-only metadata broken", "POST", "/v1/session/stepup/request", `{"scope":"transfer:write","metadata":{"a":1}}`, bearer, 400, "invalid_metadata"},
		{"step-up without a body", "POST", "/v1/session/stepup/request", "", bearer, 400, "bad_request"},
		{"otp with a bad challenge", "POST", "/v1/session/otp", `{"challenge_token":"x"}`, nil, 400, "invalid_challenge_token"},
		{"otp retry without a challenge", "POST", "/v1/session/otp/retry", "", nil, 400, "invalid_challenge_token"},
		{"otp check with a bad challenge", "POST", "/v1/session/otp/check", `{"challenge_token":"x","code":"1"}`, nil, 400, "invalid_challenge_token"},
		{"continue without a token", "POST", "/v1/session/stepup/continue", `{"challenge_token":"x"}`, nil, 401, "unauthorized"},
		{"continue without custom steps", "POST", "/v1/session/stepup/continue", `{"challenge_token":"x","verification_token":"y"}`, bearer, 403, "not_configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.call(tc.method, tc.path, tc.body, tc.header), tc.status, tc.code)
		})
	}
}

// TestWholeFlow: the endpoints that answer 200 and 204, driven like the SDK.
func TestWholeFlow(t *testing.T) {
	e := newEnv(t)
	c := e.login(t)
	if w := e.call("GET", "/v1/session/me/list?limit=5", "", http.Header{"Authorization": {"Bearer " + c.AccessToken}}); w.Code != 200 ||
		!strings.Contains(w.Body.String(), `"limit":5`) || !strings.Contains(w.Body.String(), `"current":true`) {
		t.Fatalf("me/list: %d %s", w.Code, w.Body)
	}
	req, err := c.RequestStepUp("transfer:write", map[string]string{"amount": "5"})
	if err != nil || req.Status != 200 {
		t.Fatalf("stepup/request: %v %v", req, err)
	}
	tok := req.String("challenge_token")
	if r, err := c.SendOTP(tok); err != nil || r.Status != 204 || !strings.Contains(r.Header.Get("Set-Cookie"), "__Host-stepup-otp=") {
		t.Fatalf("otp: %v %v", r, err)
	}
	time.Sleep(2 * time.Millisecond) // past the 1 ms resend cooldown, kept in whole milliseconds
	if r, err := c.RetryOTP(); err != nil || r.Status != 204 {
		t.Fatalf("otp/retry: %v %v", r, err)
	}
	checked, err := c.CheckOTP(tok, e.codes.last())
	if err != nil || checked.Status != 200 {
		t.Fatalf("otp/check: %v %v", checked, err)
	}
	red, err := c.Refresh(checked.String("challenge_token"))
	if err != nil || red.Status != 200 || !strings.Contains(red.Header.Get("Set-Cookie"), refreshCookie+"="+red.Header.Get(refreshHeader)+";") {
		t.Fatalf("refresh: %v %v", red, err)
	}
	// Clients without cookies (the mobile SDKs; a browser that blocks the
	// gateway's cookies) read the same token and its expiry from headers.
	if exp, err := time.Parse(time.RFC3339, red.Header.Get(refreshExpiresHeader)); err != nil || time.Until(exp) < time.Hour {
		t.Errorf("X-Refresh-Token-Expires-At %q: %v", red.Header.Get(refreshExpiresHeader), err)
	}
	if r, err := c.Revoke(); err != nil || r.Status != 204 {
		t.Fatalf("revoke: %v %v", r, err)
	}
}
