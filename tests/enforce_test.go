package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

type enforcementEnv struct {
	idp      *testIdP
	es, rs   *idpKey
	upstream *upstream
	caddy    *testcaddy.Instance
	base     string
	client   *http.Client
}

func startEnforcement(t *testing.T) *enforcementEnv {
	t.Helper()
	env := &enforcementEnv{es: newECKey(t, "es-1"), rs: newRSAKey(t, "rs-1"), upstream: newUpstream(t), client: newClient(t)}
	env.idp = newIdP(t, "https://idp.test", env.es, env.rs)
	port := testcaddy.FreePort(t)
	env.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	env.caddy = testcaddy.Start(t, testcaddy.Config{
		Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://127.0.0.1:%d
		trust https://idp.test {
			jwks_url %s
			audience api
			algorithms ES256 RS256
		}
		scope transfer:write {
			block
		}
	}
}

http://127.0.0.1:%d {
	stepup_session
	route /transfers* {
		stepup transfer:write
		reverse_proxy %s
	}
	route /payments* {
		stepup payments:write
		reverse_proxy %s
	}
	route /admin* {
		stepup admin:all
		reverse_proxy %s
	}
	respond 404
}
`, port, env.idp.jwksURL(), port, env.upstream.srv.URL, env.upstream.srv.URL, env.upstream.srv.URL),
		WaitFor: []string{env.base + "/.well-known/jwks.json"},
	})
	return env
}

func (env *enforcementEnv) do(t *testing.T, method, path string, header http.Header) answer {
	t.Helper()
	return fetch(t, env.client, method, env.base+path, header)
}

// TestTokenAttacksNeverReachTheUpstream sends every token attack of
// docs/security.md through the real gateway and checks the refusal and that
// the legacy API was never called.
func TestTokenAttacksNeverReachTheUpstream(t *testing.T) {
	env := startEnforcement(t)
	attacker := newECKey(t, "es-1") // same kid as the real key, other key
	attackerJKU := newIdP(t, "https://idp.test", attacker)
	iss := env.idp.issuer
	invalid := answer{status: 401, wwwAuth: `Bearer error="invalid_token"`, code: "unauthorized"}
	badRequest := answer{status: 400, wwwAuth: `Bearer error="invalid_request"`, code: "bad_request"}

	valid := env.es.token(t, iss, nil)
	parts := strings.Split(valid, ".")

	cases := []struct {
		name   string
		header http.Header
		want   answer
	}{
		{"alg none", bearer(parts[0][:0] + encodeSegment(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": "es-1"}) + "." + parts[1] + "."), invalid},
		{"alg none with signature", bearer(encodeSegment(t, map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + parts[1] + "." + parts[2]), invalid},
		{"HS256 keyed with the RSA public key", bearer(hs256WithPublicKey(t, env.rs, iss)), invalid},
		{"embedded jwk of the attacker", bearer(attacker.token(t, iss, func(h, c map[string]any) { h["jwk"] = attacker.publicJWK() })), invalid},
		{"jku to the attacker's JWKS", bearer(attacker.token(t, iss, func(h, c map[string]any) { h["jku"] = attackerJKU.jwksURL() })), invalid},
		{"x5u to the attacker", bearer(attacker.token(t, iss, func(h, c map[string]any) { h["x5u"] = attackerJKU.jwksURL() })), invalid},
		{"kid path injection", bearer(attacker.token(t, iss, func(h, c map[string]any) { h["kid"] = "../../../../../dev/null" })), invalid},
		{"kid SQL injection", bearer(attacker.token(t, iss, func(h, c map[string]any) { h["kid"] = "x' OR '1'='1" })), invalid},
		{"header alg ES384 on an ES256 key", bearer(env.es.token(t, iss, func(h, c map[string]any) { h["alg"] = "ES384" })), invalid},
		{"header alg RS256 on an EC key", bearer(env.es.token(t, iss, func(h, c map[string]any) { h["alg"] = "RS256" })), invalid},
		{"header alg PS256 on an RS256 key", bearer(env.rs.token(t, iss, func(h, c map[string]any) { h["alg"] = "PS256" })), invalid},
		{"crit extension", bearer(env.es.token(t, iss, func(h, c map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 })), invalid},
		{"JSON serialisation", http.Header{"Authorization": {`Bearer {"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`}}, badRequest},
		{"JWE-shaped five parts", bearer(parts[0] + "." + parts[1] + ".AAAA.BBBB." + parts[2]), invalid},
		{"typ dpop+jwt", bearer(env.es.token(t, iss, func(h, c map[string]any) { h["typ"] = "dpop+jwt" })), invalid},
		{"typ JWT not accepted for this issuer", bearer(env.es.token(t, iss, func(h, c map[string]any) { h["typ"] = "JWT" })), invalid},
		{"typ missing", bearer(env.es.token(t, iss, func(h, c map[string]any) { delete(h, "typ") })), invalid},
		{"exp missing", bearer(env.es.token(t, iss, func(h, c map[string]any) { delete(c, "exp") })), invalid},
		{"exp zero", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["exp"] = 0 })), invalid},
		{"exp past", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() })), invalid},
		{"exp as string", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["exp"] = "9999999999" })), invalid},
		{"nbf future", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["nbf"] = time.Now().Add(10 * time.Minute).Unix() })), invalid},
		{"iss of another issuer", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["iss"] = "https://other.test" })), invalid},
		{"iss differing in case", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["iss"] = "https://IDP.test" })), invalid},
		{"aud mismatch", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["aud"] = "another-api" })), invalid},
		{"aud missing", bearer(env.es.token(t, iss, func(h, c map[string]any) { delete(c, "aud") })), invalid},
		{"scope under another case", bearer(env.es.token(t, iss, func(h, c map[string]any) { delete(c, "scope"); c["SCOPE"] = "payments:write" })), answer{status: 403, wwwAuth: `Bearer error="insufficient_scope", scope="payments:write"`, code: "forbidden"}},
		{"signature stripped", bearer(parts[0] + "." + parts[1] + "."), invalid},
		{"signature of another token", bearer(parts[0] + "." + encodeSegment(t, map[string]any{"iss": iss, "sub": "usr_mallory", "aud": "api", "exp": time.Now().Add(time.Hour).Unix(), "scope": "payments:write"}) + "." + parts[2]), invalid},
		{"oversize token", bearer(parts[0] + "." + strings.Repeat("A", 9000) + "." + parts[2]), invalid},
		{"two Authorization headers", http.Header{"Authorization": {"Bearer " + valid, "Bearer " + valid}}, badRequest},
		{"Basic credentials", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, badRequest},
	}
	var invalidBody []byte
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := env.upstream.hits.Load()
			got := env.do(t, "GET", "/payments", tc.header)
			if got.status != tc.want.status || got.wwwAuth != tc.want.wwwAuth || got.code != tc.want.code {
				t.Errorf("got %d %q %q, want %d %q %q (body %s)", got.status, got.wwwAuth, got.code, tc.want.status, tc.want.wwwAuth, tc.want.code, got.body)
			}
			if got.cache != "no-store" {
				t.Errorf("Cache-Control = %q", got.cache)
			}
			if hits := env.upstream.hits.Load() - before; hits != 0 {
				t.Errorf("upstream hit %d times", hits)
			}
			if tc.want.status == 401 {
				if invalidBody == nil {
					invalidBody = got.body
				} else if !bytes.Equal(invalidBody, got.body) {
					t.Errorf("invalid-token body %s differs from %s", got.body, invalidBody)
				}
			}
		})
	}
	if n := attackerJKU.hits.Load(); n != 0 {
		t.Errorf("the gateway fetched the attacker's URL %d times", n)
	}

	// The same key that refused all of the above accepts the real token.
	if got := env.do(t, "GET", "/payments", bearer(valid)); got.status != 200 {
		t.Fatalf("valid token: %d %s", got.status, got.body)
	}
}

func TestValidTokensReachTheUpstreamWithTheirIdentityOnly(t *testing.T) {
	env := startEnforcement(t)
	for _, key := range []*idpKey{env.es, env.rs} {
		t.Run(key.alg(), func(t *testing.T) {
			before := env.upstream.hits.Load()
			h := bearer(key.token(t, env.idp.issuer, nil))
			h.Set("X-Stepup-Sub", "usr_admin")
			h.Set("X-Stepup-Scope", "admin:all")
			h.Set("X-Stepup-Grant", "grt_forged")
			got := env.do(t, "GET", "/payments/1", h)
			if got.status != 200 || string(got.body) != `{"legacy":"ok"}` {
				t.Fatalf("got %d %s", got.status, got.body)
			}
			if hits := env.upstream.hits.Load() - before; hits != 1 {
				t.Fatalf("upstream hits = %d", hits)
			}
			for name, want := range map[string]string{"X-Stepup-Sub": "usr_alice", "X-Stepup-Scope": "payments:write", "X-Stepup-Sid": "ses_1", "X-Stepup-Grant": ""} {
				if got := strings.Join(env.upstream.lastHeader(name), ","); got != want {
					t.Errorf("upstream saw %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestSpoofedIdentityWithoutTokenIsRefused(t *testing.T) {
	env := startEnforcement(t)
	h := http.Header{"X-Stepup-Sub": {"usr_admin"}, "X-Stepup-Scope": {"payments:write"}}
	got := env.do(t, "GET", "/payments", h)
	if got.status != 401 || got.wwwAuth != `Bearer realm="stepup"` || got.code != "unauthorized" {
		t.Fatalf("got %d %q %s", got.status, got.wwwAuth, got.body)
	}
	if env.upstream.hits.Load() != 0 {
		t.Fatal("upstream called")
	}
}

func TestScopeRefusals(t *testing.T) {
	env := startEnforcement(t)
	tok := env.es.token(t, env.idp.issuer, nil)
	got := env.do(t, "POST", "/transfers", bearer(tok))
	if got.status != 401 || got.wwwAuth != `Bearer error="insufficient_user_authentication", scope="transfer:write"` || got.code != "step_up_required" {
		t.Errorf("step-up-able scope: %d %q %s", got.status, got.wwwAuth, got.body)
	}
	var body struct {
		Scope  string            `json:"scope"`
		StepUp map[string]string `json:"step_up"`
	}
	if err := json.Unmarshal(got.body, &body); err != nil || body.Scope != "transfer:write" || body.StepUp["request"] != "/v1/session/stepup/request" {
		t.Errorf("step-up body %s", got.body)
	}
	got = env.do(t, "GET", "/admin", bearer(tok))
	if got.status != 403 || got.wwwAuth != `Bearer error="insufficient_scope", scope="admin:all"` || got.code != "forbidden" {
		t.Errorf("other scope: %d %q %s", got.status, got.wwwAuth, got.body)
	}
	if env.upstream.hits.Load() != 0 {
		t.Fatal("upstream called")
	}
}

func TestKeyRotationAtTheIdentityProvider(t *testing.T) {
	env := startEnforcement(t)
	iss := env.idp.issuer
	old := env.es.token(t, iss, nil)
	if got := env.do(t, "GET", "/payments", bearer(old)); got.status != 200 {
		t.Fatalf("before rotation: %d", got.status)
	}
	// The provider replaces its keys: a token under the new kid makes the
	// gateway fetch the set again; the retired key stops verifying.
	next := newECKey(t, "es-2")
	env.idp.setKeys(next)
	if got := env.do(t, "GET", "/payments", bearer(next.token(t, iss, nil))); got.status != 200 {
		t.Fatalf("token under the new key: %d %s", got.status, got.body)
	}
	if got := env.do(t, "GET", "/payments", bearer(env.es.token(t, iss, func(h, c map[string]any) { c["jti"] = "fresh" }))); got.status != 401 {
		t.Fatalf("token under the retired key: %d", got.status)
	}

	// A flood of unknown kids costs at most one more fetch per cooldown.
	hits := env.idp.hits.Load()
	for i := 0; i < 50; i++ {
		tok := next.token(t, iss, func(h, c map[string]any) { h["kid"] = fmt.Sprintf("random-%d", i) })
		if got := env.do(t, "GET", "/payments", bearer(tok)); got.status != 401 {
			t.Fatalf("unknown kid: %d", got.status)
		}
	}
	if extra := env.idp.hits.Load() - hits; extra > 1 {
		t.Errorf("50 unknown kids caused %d JWKS fetches, want at most 1", extra)
	}

	// The provider goes down: the last good key set keeps verifying.
	env.idp.setDown(true)
	if got := env.do(t, "GET", "/payments", bearer(next.token(t, iss, func(h, c map[string]any) { c["jti"] = "during-outage" }))); got.status != 200 {
		t.Fatalf("during JWKS outage: %d", got.status)
	}
}

// startTrustingGateway runs a site that trusts https://idp.test by the
// given JWKS URL (audience api, when asked) and serves the given
// directives; it returns the site's base URL. store is a `store` line of
// the stepup option, or "" for the default.
func startTrustingGateway(t *testing.T, jwksURL, store, directives string) string {
	t.Helper()
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		%s
		trust https://idp.test {
			jwks_url %s
		}
	}
}
http://127.0.0.1:%d {
%s
}
`, store, jwksURL, port, directives), WaitFor: []string{base}})
	return base
}

func TestUnreachableJWKSFailsClosed(t *testing.T) {
	up := newUpstream(t)
	key := newECKey(t, "k")
	base := startTrustingGateway(t, fmt.Sprintf("http://127.0.0.1:%d/jwks.json", testcaddy.FreePort(t)), "", "\tstepup\n\treverse_proxy "+up.srv.URL)
	got := fetch(t, newClient(t), "GET", base+"/", bearer(key.token(t, "https://idp.test", nil)))
	if got.status != 503 || !strings.Contains(string(got.body), `"code":"internal"`) {
		t.Fatalf("got %d %s", got.status, got.body)
	}
	if up.hits.Load() != 0 {
		t.Fatal("upstream called")
	}
}

func TestGatewayPublishesItsKeys(t *testing.T) {
	env := startEnforcement(t)
	got := env.do(t, "GET", "/.well-known/jwks.json", nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(got.body, &set); err != nil {
		t.Fatalf("%d %v %q: %v", got.status, got.header, got.body, err)
	}
	if got.status != 200 || len(set.Keys) != 1 || set.Keys[0]["kty"] != "EC" || set.Keys[0]["d"] != nil || set.Keys[0]["kid"] == "" {
		t.Fatalf("JWKS %d %+v", got.status, set)
	}
}

func TestConfigErrorsStopTheLoad(t *testing.T) {
	for name, tc := range map[string]struct{ caddyfile, want string }{
		"trust without jwks_url":       {"{\n admin {admin}\n stepup {\n trust https://idp {\n audience a\n }\n }\n}\n:0 {\n respond ok\n}", "jwks_url is required"},
		"plain http JWKS off loopback": {"{\n admin {admin}\n stepup {\n trust https://idp {\n jwks_url http://idp.example.com/jwks\n }\n }\n}\n:0 {\n respond ok\n}", "must use https"},
		"HS256 allowed":                {"{\n admin {admin}\n stepup {\n trust https://idp {\n jwks_url https://idp.example.com/jwks\n algorithms HS256\n }\n }\n}\n:0 {\n respond ok\n}", `algorithm \"HS256\" not allowed`},
		"stepup with no issuer":        {"{\n admin {admin}\n}\nhttp://127.0.0.1:0 {\n stepup\n respond ok\n}", "trusts no issuer"},
	} {
		t.Run(name, func(t *testing.T) {
			out := testcaddy.StartErr(t, tc.caddyfile)
			if !strings.Contains(out, tc.want) {
				t.Errorf("log does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestStepupRunsBeforeHandlersThatAnswerThemselves guards the directive
// order: a site with `stepup` and `respond` side by side must not answer
// without a token.
func TestStepupRunsBeforeHandlersThatAnswerThemselves(t *testing.T) {
	key := newECKey(t, "k")
	idp := newIdP(t, "https://idp.test", key)
	base := startTrustingGateway(t, idp.jwksURL(), "", "\trespond \"secret\"\n\tstepup")
	client := newClient(t)
	got := fetch(t, client, "GET", base+"/", nil)
	if got.status != 401 || strings.Contains(string(got.body), "secret") {
		t.Fatalf("without token: %d %s", got.status, got.body)
	}
	got = fetch(t, client, "GET", base+"/", bearer(key.token(t, "https://idp.test", func(h, c map[string]any) { delete(c, "aud") })))
	if got.status != 200 || string(got.body) != "secret" {
		t.Fatalf("with token: %d %s", got.status, got.body)
	}
}
