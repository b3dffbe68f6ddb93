package caddystepup

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

const testIssuer = "https://gateway.test"

// testApp is a started stepup app without Caddy: the gateway's own key,
// a measured memory store, and an external issuer whose JWKS cannot be
// reached.
func testApp(t testing.TB, scopes ...string) *App {
	t.Helper()
	signer, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	app := &App{Config: appconfig.Config{Issuer: testIssuer, Audience: testIssuer, Scopes: map[string]*appconfig.Scope{}}, logger: zap.NewNop()}
	for _, s := range scopes {
		app.Scopes[s] = &appconfig.Scope{Block: true}
	}
	mem := store.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	down := jwks.NewRemote(jwks.RemoteOptions{URL: "http://127.0.0.1:1/jwks.json", Timeout: time.Second})
	t.Cleanup(down.Close)
	tokens, err := jwks.NewVerifier(jwks.VerifierOptions{
		Issuers: []jwks.Issuer{
			{Issuer: testIssuer, Audiences: []string{testIssuer}, Keys: signer.KeySource(), Algorithms: []string{"ES256"}, Types: []string{accessTokenType}},
			{Issuer: "https://down.test", Keys: down, Algorithms: []string{"ES256"}, Types: []string{accessTokenType}},
		},
		CacheSize: 100,
		OnCache:   telemetry.CacheLookup, // as app_start.go wires it
	})
	if err != nil {
		t.Fatal(err)
	}
	app.rt = new(atomic.Pointer[appRuntime])
	app.rt.Store(&appRuntime{signer: signer, tokens: tokens, store: telemetry.MeasureStore(mem, nil), now: time.Now, nonces: dpop.NewNonces(nil, 0),
		resourceProofs: &dpop.Verifier{Algorithms: app.AcceptedDPoPAlgorithms()}})
	return app
}

func testHandler(t testing.TB, app *App, h *Handler) *Handler {
	t.Helper()
	h.logger = zap.NewNop()
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

func mintToken(t testing.TB, app *App, mutate func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": testIssuer, "aud": testIssuer, "sub": "usr_alice", "sid": "ses_1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": "tok1", "scope": "openid payments:read",
	}
	if mutate != nil {
		mutate(claims)
	}
	tok, err := app.runtime().signer.Sign(accessTokenType, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// served is what the fake upstream saw.
type served struct {
	calls   int
	headers http.Header
	body    string
	repl    *caddy.Replacer
}

func serve(t *testing.T, h *Handler, r *http.Request) (*httptest.ResponseRecorder, *served) {
	t.Helper()
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	seen := &served{repl: repl}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen.calls++
		seen.headers = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		seen.body = string(b)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, r, next); err != nil {
		t.Fatalf("ServeHTTP returned %v", err)
	}
	return rec, seen
}

func request(method, target, auth string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Scope   string `json:"scope"`
	StepUp  *struct {
		Request string `json:"request"`
	} `json:"step_up"`
}

func assertRefused(t *testing.T, rec *httptest.ResponseRecorder, seen *served, status int, wwwAuth, code string) errorJSON {
	t.Helper()
	if seen.calls != 0 {
		t.Errorf("upstream called %d times, want 0", seen.calls)
	}
	if rec.Code != status {
		t.Errorf("status = %d, want %d", rec.Code, status)
	}
	got, metadata, _ := strings.Cut(rec.Header().Get("WWW-Authenticate"), `, resource_metadata=`)
	if got != wwwAuth {
		t.Errorf("WWW-Authenticate = %q, want %q", got, wwwAuth)
	}
	if wwwAuth != "" && (!strings.HasPrefix(metadata, `"http://`) || !strings.HasSuffix(metadata, `/.well-known/oauth-protected-resource"`)) {
		t.Errorf("resource_metadata = %s, want the request origin's metadata", metadata)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	var body errorJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	if body.Code != code || body.Message == "" || body.Type == "" {
		t.Errorf("body = %+v, want code %q with message and type", body, code)
	}
	return body
}

func TestNoTokenAsksForOne(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Realm: "payments"}})
	for _, auth := range []string{"", "Bearer", "Bearer "} {
		rec, seen := serve(t, h, request("GET", "/x", auth))
		assertRefused(t, rec, seen, 401, `Bearer realm="payments"`, "unauthorized")
	}
}

func TestMalformedRequestsAreBadRequests(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{})
	tok := mintToken(t, app, nil)
	for name, r := range map[string]*http.Request{
		"two headers": func() *http.Request {
			r := request("GET", "/x", "Bearer "+tok)
			r.Header.Add("Authorization", "Bearer "+tok)
			return r
		}(),
		"basic scheme":        request("GET", "/x", "Basic dXNlcjpwYXNz"),
		"no space":            request("GET", "/x", "Bearer\t"+tok),
		"not token68":         request("GET", "/x", "Bearer a b"),
		"padding in middle":   request("GET", "/x", "Bearer ab=cd"),
		"token in query too":  request("GET", "/x?access_token="+tok, "Bearer "+tok),
		"token in query only": request("GET", "/x?access_token="+tok, ""),
		"token in form too": func() *http.Request {
			r := httptest.NewRequest("POST", "/x", strings.NewReader("a=1&access_token="+tok))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			rec, seen := serve(t, h, r)
			assertRefused(t, rec, seen, 400, `Bearer error="invalid_request"`, "bad_request")
		})
	}
}

func TestFormBodyWithoutTokenReachesUpstreamIntact(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{})
	r := httptest.NewRequest("POST", "/x", strings.NewReader("amount=500&currency=USD"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Bearer "+mintToken(t, app, nil))
	rec, seen := serve(t, h, r)
	if rec.Code != 200 || seen.calls != 1 || seen.body != "amount=500&currency=USD" {
		t.Fatalf("status %d, calls %d, body %q", rec.Code, seen.calls, seen.body)
	}
}

func TestEveryInvalidTokenGetsTheSameAnswer(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{})
	other := testApp(t) // same issuer name, another key
	valid := mintToken(t, app, nil)
	cases := map[string]string{
		"garbage":      "abc.def.ghi",
		"expired":      mintToken(t, app, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
		"exp zero":     mintToken(t, app, func(c map[string]any) { c["exp"] = 0 }),
		"no exp":       mintToken(t, app, func(c map[string]any) { delete(c, "exp") }),
		"wrong aud":    mintToken(t, app, func(c map[string]any) { c["aud"] = "someone-else" }),
		"unknown iss":  mintToken(t, app, func(c map[string]any) { c["iss"] = "https://evil.test" }),
		"other key":    mintToken(t, other, nil),
		"bad sig":      valid[:len(valid)-4] + "AAAA",
		"oversize":     strings.Repeat("a", enforce.MaxTokenBytes+1),
		"not yet":      mintToken(t, app, func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }),
		"wrong typ":    signWithType(t, app, "dpop+jwt"),
		"two segments": "abc.def",
	}
	var first []byte
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok))
			assertRefused(t, rec, seen, 401, `Bearer error="invalid_token"`, "unauthorized")
			if first == nil {
				first = rec.Body.Bytes()
			} else if !bytes.Equal(first, rec.Body.Bytes()) {
				t.Errorf("body %q differs from %q", rec.Body.Bytes(), first)
			}
		})
	}
}

func signWithType(t *testing.T, app *App, typ string) string {
	t.Helper()
	now := time.Now()
	tok, err := app.runtime().signer.Sign(typ, map[string]any{"iss": testIssuer, "aud": testIssuer, "sub": "u", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestValidTokenWithScopeReachesUpstreamWithIdentity(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}}})
	r := request("GET", "/x", "bearer "+mintToken(t, app, nil)) // scheme is case-insensitive
	r.Header.Set("X-Stepup-Sub", "usr_admin")
	r.Header.Set("x-stepup-grant", "grt_forged")
	r.Header.Set("X-Stepup-Anything", "forged")
	rec, seen := serve(t, h, r)
	if rec.Code != 200 || seen.calls != 1 {
		t.Fatalf("status %d, upstream calls %d", rec.Code, seen.calls)
	}
	for name, want := range map[string]string{
		"X-Stepup-Sub": "usr_alice", "X-Stepup-Scope": "openid payments:read", "X-Stepup-Sid": "ses_1",
		"X-Stepup-Grant": "", "X-Stepup-Anything": "",
	} {
		if got := strings.Join(seen.headers.Values(name), ","); got != want {
			t.Errorf("upstream header %s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"http.auth.user.id": "usr_alice", "http.stepup.scope": "openid payments:read", "http.stepup.sid": "ses_1",
	} {
		if got, _ := seen.repl.GetString(name); got != want {
			t.Errorf("placeholder %s = %q, want %q", name, got, want)
		}
	}
}

func TestCustomIdentityHeadersAreSetAndStripped(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Headers: &appconfig.IdentityHeaders{Subject: "x-user"}}}) // any case
	r := request("GET", "/x", "")
	r.Header.Set("X-User", "usr_admin")
	_, seen := serve(t, h, r)
	if seen.calls != 0 {
		t.Fatal("upstream called without a token")
	}
	r = request("GET", "/x", "Bearer "+mintToken(t, app, nil))
	r.Header.Set("X-User", "usr_admin")
	_, seen = serve(t, h, r)
	if got := seen.headers.Values("X-User"); len(got) != 1 || got[0] != "usr_alice" {
		t.Errorf("X-User = %q, want [usr_alice]", got)
	}
}

func TestMissingScopeThatCanBeSteppedUpIsAChallenge(t *testing.T) {
	app := testApp(t, "transfer:write")
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"transfer:write", "payments:read"}}})
	rec, seen := serve(t, h, request("POST", "/transfers", "Bearer "+mintToken(t, app, nil)))
	body := assertRefused(t, rec, seen, 401, `Bearer error="insufficient_user_authentication", scope="transfer:write"`, "step_up_required")
	if body.Scope != "transfer:write" || body.StepUp == nil || body.StepUp.Request != "/v1/session/stepup/request" {
		t.Errorf("body = %s", rec.Body.String())
	}
}

func TestMissingScopeThatCannotBeSteppedUpIsForbidden(t *testing.T) {
	app := testApp(t, "transfer:write")
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"admin:all", "payments:read"}}})
	rec, seen := serve(t, h, request("GET", "/admin", "Bearer "+mintToken(t, app, nil)))
	body := assertRefused(t, rec, seen, 403, `Bearer error="insufficient_scope", scope="admin:all"`, "forbidden")
	if body.Scope != "admin:all" {
		t.Errorf("body scope = %q", body.Scope)
	}
}

func TestAnyNeedsOneOfTheScopes(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"admin:all", "payments:read"}, Any: true}})
	rec, seen := serve(t, h, request("GET", "/x", "Bearer "+mintToken(t, app, nil)))
	if rec.Code != 200 || seen.calls != 1 {
		t.Fatalf("status %d, calls %d", rec.Code, seen.calls)
	}
	h = testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"admin:all", "billing:read"}, Any: true}})
	rec, seen = serve(t, h, request("GET", "/x", "Bearer "+mintToken(t, app, nil)))
	assertRefused(t, rec, seen, 403, `Bearer error="insufficient_scope", scope="admin:all billing:read"`, "forbidden")
}

func TestScopeComparisonIsExact(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}}})
	for _, scope := range []string{"Payments:read", "payments:read:all", "payments", "payments:readX"} {
		tok := mintToken(t, app, func(c map[string]any) { c["scope"] = scope })
		rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok))
		assertRefused(t, rec, seen, 403, `Bearer error="insufficient_scope", scope="payments:read"`, "forbidden")
	}
}

func TestUnreachableKeySourceFailsClosed(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{})
	tok := mintToken(t, app, func(c map[string]any) { c["iss"] = "https://down.test" })
	rec, seen := serve(t, h, request("GET", "/x", "Bearer "+tok))
	assertRefused(t, rec, seen, 503, "", "internal")
}
