package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

const allDPoPAlgs = `algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA"`

// trustOnlyGateways runs n gateways that mint nothing, trust one identity
// provider and share one store, in front of the legacy API.
func trustOnlyGateways(t *testing.T, n int, jwksURL, store, upstreamURL string) []string {
	t.Helper()
	var bases []string
	for i := 0; i < n; i++ {
		bases = append(bases, startTrustingGateway(t, jwksURL, store, "\tstepup payments:write\n\treverse_proxy "+upstreamURL))
	}
	return bases
}

// TestDPoPBoundTokensAtTheProxy: a token bound to a DPoP key (cnf.jkt)
// passes only with the DPoP scheme and a fresh proof of that key; each
// proof passes once, on any instance sharing the store.
func TestDPoPBoundTokensAtTheProxy(t *testing.T) {
	key := newECKey(t, "es-1")
	idp := newIdP(t, "https://idp.test", key)
	api := newUpstream(t)
	bases := trustOnlyGateways(t, 2, idp.jwksURL(), "store redis redis://"+redistest.Start(t).Addr+"/0", api.srv.URL)
	client := newClient(t)
	holder, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bound := key.token(t, idp.issuer, func(h, c map[string]any) { c["cnf"] = map[string]string{"jkt": sessionclient.JKT(holder)} })
	plain := key.token(t, idp.issuer, nil)
	call := func(base, scheme, token, proof string) answer {
		h := http.Header{"Authorization": {scheme + " " + token}}
		if proof != "" {
			h.Set("DPoP", proof)
		}
		return fetch(t, client, "GET", base+"/payments/1?ref=2", h)
	}
	proofFor := func(k *ecdsa.PrivateKey, base, token string) string {
		return sessionclient.ResourceProof(k, "GET", base+"/payments/1", token, nil)
	}
	refused := func(t *testing.T, got answer, status int, wwwAuth, code string) {
		t.Helper()
		before := api.hits.Load()
		if got.status != status || got.wwwAuth != wwwAuth || got.code != code {
			t.Errorf("got %d %q %q, want %d %q %q (%s)", got.status, got.wwwAuth, got.code, status, wwwAuth, code, got.body)
		}
		if api.hits.Load() != before {
			t.Error("the legacy API was called")
		}
	}
	a, b := bases[0], bases[1]

	t.Run("bound token with its proof passes", func(t *testing.T) {
		before := api.hits.Load()
		if got := call(a, "DPoP", bound, proofFor(holder, a, bound)); got.status != 200 || api.hits.Load() != before+1 {
			t.Fatalf("%d %q %s", got.status, got.wwwAuth, got.body)
		}
		if sub := api.lastHeader("X-Stepup-Sub"); len(sub) != 1 || sub[0] != "usr_alice" {
			t.Errorf("X-Stepup-Sub = %q", sub)
		}
	})
	t.Run("bound token as Bearer", func(t *testing.T) {
		refused(t, call(a, "Bearer", bound, ""), 401, `Bearer error="invalid_token"`, "unauthorized")
		refused(t, call(a, "Bearer", bound, proofFor(holder, a, bound)), 401, `Bearer error="invalid_token"`, "unauthorized")
	})
	t.Run("stolen bound token with the thief's proof", func(t *testing.T) {
		refused(t, call(a, "DPoP", bound, proofFor(thief, a, bound)), 401, `DPoP error="invalid_token", `+allDPoPAlgs, "unauthorized")
	})
	t.Run("unbound token as DPoP", func(t *testing.T) {
		refused(t, call(a, "DPoP", plain, proofFor(holder, a, plain)), 401, `DPoP error="invalid_token", `+allDPoPAlgs, "unauthorized")
	})
	t.Run("DPoP without a proof", func(t *testing.T) {
		refused(t, call(a, "DPoP", bound, ""), 401, `DPoP error="invalid_dpop_proof", `+allDPoPAlgs, "invalid_dpop_proof")
	})
	t.Run("proof for the other instance's URL", func(t *testing.T) {
		refused(t, call(a, "DPoP", bound, proofFor(holder, b, bound)), 401, `DPoP error="invalid_dpop_proof", `+allDPoPAlgs, "invalid_dpop_proof")
	})
	t.Run("a proof passes once, across instances", func(t *testing.T) {
		proofA := proofFor(holder, a, bound)
		before := api.hits.Load()
		if got := call(a, "DPoP", bound, proofA); got.status != 200 {
			t.Fatalf("first use: %d %s", got.status, got.body)
		}
		refused(t, call(a, "DPoP", bound, proofA), 401, `DPoP error="invalid_dpop_proof", `+allDPoPAlgs, "invalid_dpop_proof")
		// The same jti (and key) in a proof for B: B has seen it through the store.
		jtiReused := sessionclient.ResourceProof(holder, "GET", b+"/payments/1", bound, func(h, c map[string]any) {
			c["jti"] = sessionclient.Claims(proofA)["jti"]
		})
		refused(t, call(b, "DPoP", bound, jtiReused), 401, `DPoP error="invalid_dpop_proof", `+allDPoPAlgs, "invalid_dpop_proof")
		if api.hits.Load() != before+1 {
			t.Errorf("%d upstream hits for one proof", api.hits.Load()-before)
		}
	})
	t.Run("20 parallel uses of one proof", func(t *testing.T) {
		proof := sessionclient.ResourceProof(holder, "GET", a+"/payments/1", bound, nil)
		before := api.hits.Load()
		results := make([]answer, 20)
		done := make(chan int)
		for i := range results {
			go func() {
				h := http.Header{"Authorization": {"DPoP " + bound}, "DPoP": {proof}}
				req, _ := http.NewRequest("GET", a+"/payments/1", nil)
				req.Header = h
				resp, err := client.Do(req)
				if err == nil {
					results[i] = answer{status: resp.StatusCode}
					resp.Body.Close()
				}
				done <- i
			}()
		}
		for range results {
			<-done
		}
		passed := 0
		for _, r := range results {
			if r.status == 200 {
				passed++
			} else if r.status != 401 {
				t.Errorf("status %d", r.status)
			}
		}
		if passed != 1 || api.hits.Load() != before+1 {
			t.Fatalf("%d of 20 parallel uses of one proof passed (%d upstream hits), want 1", passed, api.hits.Load()-before)
		}
	})
}

// TestRealProviderDPoPTokens: panva's oidc-provider issues a DPoP-bound JWT
// access token (cnf.jkt) to oauth4webapi after a real authorization-code
// flow with PKCE; the gateway accepts it with the library's own proofs,
// refuses it as a bearer token, refuses hand-made bad proofs (the dpop
// package), and demands a nonce where configured, which the library
// handles from WWW-Authenticate (RFC 9449 §9).
func TestRealProviderDPoPTokens(t *testing.T) {
	requireOIDCHarness(t)
	p := startOIDCProvider(t)
	env := startEdgeGateway(t, "store memory", edgeTrust{p.Issuer, p.JWKSURI, "https://api.test"})
	pay := env.base + "/api/payments/1"
	out := p.run(t, oidcRun{Resource: "https://api.test", Scope: "payments:write", Sub: "carol", Calls: []oidcCall{
		{Name: "dpop", URL: pay, Method: "GET", As: "dpop"},
		{Name: "dpop post", URL: pay, Method: "POST", Body: `{"amount":"5"}`, ContentType: "application/json", As: "dpop"},
		{Name: "bearer", URL: pay, Method: "GET", As: "bearer"},
		{Name: "replay", URL: pay, Method: "GET", As: "dpop-replay"},
		{Name: "other key", URL: pay, Method: "GET", As: "dpop-other-key"},
		{Name: "no ath", URL: pay, Method: "GET", As: "dpop-no-ath"},
		{Name: "wrong htu", URL: pay, Method: "GET", As: "dpop-wrong-htu"},
		{Name: "wrong htm", URL: pay, Method: "GET", As: "dpop-wrong-htm"},
		{Name: "nonce", URL: env.base + "/api/nonce", Method: "GET", As: "dpop"},
		{Name: "step-up", URL: env.base + "/api/transfers", Method: "POST", Body: `{"amount":"5","currency":"USD"}`, ContentType: "application/json", As: "dpop"},
	}})
	cnf, _ := out.Claims["cnf"].(map[string]any)
	if jkt, _ := cnf["jkt"].(string); len(jkt) != 43 || out.Claims["sub"] != "carol" {
		t.Fatalf("the provider's token is not DPoP-bound to carol: %v", out.Claims)
	}
	invalidProof := `DPoP error="invalid_dpop_proof", ` + allDPoPAlgs
	for _, want := range []struct {
		name    string
		status  int
		wwwAuth string
	}{
		{"dpop", 200, ""},
		{"dpop post", 200, ""},
		{"bearer", 401, `Bearer error="invalid_token"`},
		{"replay#1", 200, ""},
		{"replay#2", 401, invalidProof},
		{"other key", 401, `DPoP error="invalid_token", ` + allDPoPAlgs},
		{"no ath", 401, invalidProof},
		{"wrong htu", 401, invalidProof},
		{"wrong htm", 401, invalidProof},
		{"nonce", 200, ""},
		{"step-up", 401, `DPoP error="insufficient_user_authentication", scope="transfer:write", ` + allDPoPAlgs},
	} {
		got := out.result(t, want.name)
		if got.Status != want.status || got.WWWAuthenticate != want.wwwAuth {
			t.Errorf("%s: %d %q, want %d %q (%s)", want.name, got.Status, got.WWWAuthenticate, want.status, want.wwwAuth, got.Body)
		}
	}
	if !out.result(t, "nonce").Retried || out.result(t, "nonce").DPoPNonce == "" {
		t.Errorf("the nonce route did not make oauth4webapi retry with a nonce: %+v", out.result(t, "nonce"))
	}
	if out.result(t, "dpop").Retried {
		t.Error("a route without dpop_nonce demanded a nonce")
	}
	// Four calls passed: dpop, dpop post, the first use of the replayed
	// proof, and the nonce route after its retry.
	if hits := env.api.hits.Load(); hits != 4 {
		t.Errorf("the legacy API was called %d times, want 4", hits)
	}
	if sub := env.api.lastHeader("X-Stepup-Sub"); len(sub) != 1 || sub[0] != "carol" {
		t.Errorf("X-Stepup-Sub = %q", sub)
	}
}
