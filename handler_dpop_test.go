package caddystepup

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

const dpopAlgs = `algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA"`

// boundToken mints a token bound to key (cnf.jkt), as an identity provider
// issues DPoP-bound access tokens.
func boundToken(t *testing.T, app *App, key *ecdsa.PrivateKey) string {
	t.Helper()
	return mintToken(t, app, func(c map[string]any) { c["cnf"] = map[string]string{"jkt": sessionclient.JKT(key)} })
}

func newDPoPKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func dpopRequest(method, target, token, proof string) *http.Request {
	r := request(method, target, "DPoP "+token)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	return r
}

func TestDPoPBoundTokenWithItsProofPasses(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}}})
	key := newDPoPKey(t)
	tok := boundToken(t, app, key)
	proof := sessionclient.ResourceProof(key, "POST", "http://example.com/payments", tok, nil)
	rec, seen := serve(t, h, dpopRequest("POST", "/payments?ref=1", tok, proof))
	if rec.Code != 200 || seen.calls != 1 || seen.headers.Get("X-Stepup-Sub") != "usr_alice" {
		t.Fatalf("status %d, calls %d, sub %q: %s", rec.Code, seen.calls, seen.headers.Get("X-Stepup-Sub"), rec.Body)
	}
	if rec.Header().Get("DPoP-Nonce") != "" {
		t.Error("a DPoP-Nonce was sent though the route demands none")
	}

	// The same proof again is a replay.
	rec, seen = serve(t, h, dpopRequest("POST", "/payments?ref=1", tok, proof))
	assertRefused(t, rec, seen, 401, `DPoP error="invalid_dpop_proof", `+dpopAlgs, "invalid_dpop_proof")
}

func TestSenderConstraintRefusals(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}}})
	key, other := newDPoPKey(t), newDPoPKey(t)
	bound := boundToken(t, app, key)
	plain := mintToken(t, app, nil)
	mtls := mintToken(t, app, func(c map[string]any) { c["cnf"] = map[string]string{"x5t#S256": "abc"} })
	url := "http://example.com/payments"
	invalidDPoP := `DPoP error="invalid_token", ` + dpopAlgs
	for _, tc := range []struct {
		name    string
		r       *http.Request
		wwwAuth string
		code    string
	}{
		{"bound token as Bearer", request("POST", "/payments", "Bearer "+bound), `Bearer error="invalid_token"`, "unauthorized"},
		{"bound token as Bearer with its proof", func() *http.Request {
			r := request("POST", "/payments", "Bearer "+bound)
			r.Header.Set("DPoP", sessionclient.ResourceProof(key, "POST", url, bound, nil))
			return r
		}(), `Bearer error="invalid_token"`, "unauthorized"},
		{"mTLS-bound token as Bearer", request("POST", "/payments", "Bearer "+mtls), `Bearer error="invalid_token"`, "unauthorized"},
		{"mTLS-bound token as DPoP", dpopRequest("POST", "/payments", mtls, sessionclient.ResourceProof(key, "POST", url, mtls, nil)), invalidDPoP, "unauthorized"},
		{"unbound token as DPoP", dpopRequest("POST", "/payments", plain, sessionclient.ResourceProof(key, "POST", url, plain, nil)), invalidDPoP, "unauthorized"},
		{"proof of another key", dpopRequest("POST", "/payments", bound, sessionclient.ResourceProof(other, "POST", url, bound, nil)), invalidDPoP, "unauthorized"},
		{"no proof", dpopRequest("POST", "/payments", bound, ""), `DPoP error="invalid_dpop_proof", ` + dpopAlgs, "invalid_dpop_proof"},
		{"proof for another path", dpopRequest("POST", "/payments", bound, sessionclient.ResourceProof(key, "POST", "http://example.com/admin", bound, nil)), `DPoP error="invalid_dpop_proof", ` + dpopAlgs, "invalid_dpop_proof"},
		{"proof for https", dpopRequest("POST", "/payments", bound, sessionclient.ResourceProof(key, "POST", "https://example.com/payments", bound, nil)), `DPoP error="invalid_dpop_proof", ` + dpopAlgs, "invalid_dpop_proof"},
		{"proof without ath", dpopRequest("POST", "/payments", bound, sessionclient.ResourceProof(key, "POST", url, bound, func(h, c map[string]any) { delete(c, "ath") })), `DPoP error="invalid_dpop_proof", ` + dpopAlgs, "invalid_dpop_proof"},
		{"invalid token as DPoP", dpopRequest("POST", "/payments", "a.b.c", sessionclient.ResourceProof(key, "POST", url, "a.b.c", nil)), invalidDPoP, "unauthorized"},
		{"DPoP scheme without a token", request("POST", "/payments", "DPoP"), `DPoP realm="stepup", ` + dpopAlgs, "unauthorized"},
		{"DPoP token in the query too", dpopRequest("POST", "/payments?access_token=x", bound, sessionclient.ResourceProof(key, "POST", url, bound, nil)), `DPoP error="invalid_request", ` + dpopAlgs, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, seen := serve(t, h, tc.r)
			assertRefused(t, rec, seen, 401+map[bool]int{true: -1, false: 0}[tc.code == "bad_request"], tc.wwwAuth, tc.code)
		})
	}
}

func TestDPoPChallengesUseTheDPoPScheme(t *testing.T) {
	app := testApp(t, "transfer:write")
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"transfer:write"}}})
	admin := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"admin:all"}}})
	key := newDPoPKey(t)
	tok := boundToken(t, app, key)
	url := "http://example.com/transfers"
	rec, seen := serve(t, h, dpopRequest("POST", "/transfers", tok, sessionclient.ResourceProof(key, "POST", url, tok, nil)))
	body := assertRefused(t, rec, seen, 401, `DPoP error="insufficient_user_authentication", scope="transfer:write", `+dpopAlgs, "step_up_required")
	if body.Scope != "transfer:write" || body.StepUp == nil {
		t.Errorf("step-up body %+v", body)
	}
	rec, seen = serve(t, admin, dpopRequest("POST", "/transfers", tok, sessionclient.ResourceProof(key, "POST", url, tok, nil)))
	assertRefused(t, rec, seen, 403, `DPoP error="insufficient_scope", scope="admin:all", `+dpopAlgs, "forbidden")
}

func TestDPoPNonceAtTheResource(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{DPoPNonce: true}})
	key := newDPoPKey(t)
	tok := boundToken(t, app, key)
	url := "http://example.com/payments"
	rec, seen := serve(t, h, dpopRequest("GET", "/payments", tok, sessionclient.ResourceProof(key, "GET", url, tok, nil)))
	assertRefused(t, rec, seen, 401, `DPoP error="use_dpop_nonce", `+dpopAlgs, "use_dpop_nonce")
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	nonce := rec.Header().Get("DPoP-Nonce")
	if body.Error != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("error member %q, DPoP-Nonce %q", body.Error, nonce)
	}
	rec, seen = serve(t, h, dpopRequest("GET", "/payments", tok, sessionclient.ResourceProof(key, "GET", url, tok, func(h, c map[string]any) { c["nonce"] = nonce })))
	if rec.Code != 200 || seen.calls != 1 || rec.Header().Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d, %d calls, DPoP-Nonce %q: %s", rec.Code, seen.calls, rec.Header().Get("DPoP-Nonce"), rec.Body)
	}
}

// TestDPoPURLFromATrustedProxy: behind a TLS-terminating proxy the client
// addressed https://api.example.com; the proof names that.
func TestDPoPURLFromATrustedProxy(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{})
	key := newDPoPKey(t)
	tok := boundToken(t, app, key)
	for _, trusted := range []bool{true, false} {
		r := dpopRequest("GET", "/payments", tok, sessionclient.ResourceProof(key, "GET", "https://api.example.com/payments", tok, nil))
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "api.example.com")
		r = withVars(r, map[string]any{"trusted_proxy": trusted})
		rec, seen := serve(t, h, r)
		if trusted && (rec.Code != 200 || seen.calls != 1) {
			t.Errorf("from a trusted proxy: %d %s", rec.Code, rec.Body)
		}
		if !trusted && rec.Code != 401 {
			t.Errorf("forwarded headers of an untrusted client were believed: %d", rec.Code)
		}
	}
}

func TestDefaultIdentityHeadersAreStripped(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{})
	r := request("GET", "/x", "Bearer "+mintToken(t, app, nil))
	forged := []string{"X-Auth-User", "X-Auth-Sub", "X-Auth-Scope", "X_Auth_User", "Remote-User", "X-Forwarded-User", "X-Auth-Request-Email", "X-Forwarded-Access-Token"}
	for _, name := range forged {
		r.Header[name] = []string{"admin"}
	}
	rec, seen := serve(t, h, r)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	for name := range seen.headers {
		for _, f := range forged {
			if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), strings.ReplaceAll(f, "_", "-")) {
				t.Errorf("%s reached the upstream", name)
			}
		}
	}
	app.StripHeadersOff = true
	app.StripHeaders = []string{"X-Tenant*"}
	h = testHandler(t, app, &Handler{})
	r = request("GET", "/x", "Bearer "+mintToken(t, app, nil))
	r.Header.Set("X-Auth-User", "kept")
	r.Header.Set("X-Tenant-Id", "gone")
	r.Header.Set("X-Stepup-Role", "gone")
	_, seen = serve(t, h, r)
	if seen.headers.Get("X-Auth-User") != "kept" || seen.headers.Get("X-Tenant-Id") != "" || seen.headers.Get("X-Stepup-Role") != "" {
		t.Errorf("strip_headers off + X-Tenant*: upstream saw %v", seen.headers)
	}
}

// withVars gives r the request variables Caddy's server sets (client_ip,
// trusted_proxy).
func withVars(r *http.Request, vars map[string]any) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
}
