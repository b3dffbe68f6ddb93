package tests

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// idTokenProvider is a small OpenID provider of ours, for ID tokens that
// a real provider (oidc-provider) will not issue: several audiences
// without azp, another client's azp, an iat in the future. go-oidc's
// oidctest server answers discovery and the key set; /auth sends the
// browser straight back with a code; /token answers it with an ID token
// whose claims the test chose (the nonce of that login filled in), signed
// with the provider's key.
type idTokenProvider struct {
	srv *httptest.Server

	mu     sync.Mutex
	nonces map[string]string // code → nonce
	claims func(nonce string) map[string]any
}

func startIDTokenProvider(t *testing.T) *idTokenProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idTokenProvider{nonces: map[string]string{}}
	keys := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	mux := http.NewServeMux()
	mux.Handle("/", keys)
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := fmt.Sprintf("code-%d", time.Now().UnixNano())
		p.mu.Lock()
		p.nonces[code] = q.Get("nonce")
		p.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "gw" || secret != "gw-secret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		p.mu.Lock()
		nonce, ok := p.nonces[r.PostForm.Get("code")]
		delete(p.nonces, r.PostForm.Get("code"))
		claims := p.claims(nonce)
		p.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		raw, _ := json.Marshal(claims)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60,
			"id_token": oidctest.SignIDToken(key, "k1", oidc.RS256, string(raw))})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	keys.SetIssuer(p.srv.URL)
	return p
}

// TestOAuthIDTokenIssuance: through the real caddy, an ID token with
// several audiences and no azp, with another client's azp, or issued in
// the future (an hour, or a minute past the 30 s leeway) logs nobody in:
// the callback sends the browser back to the app with error=access_denied
// and no ticket, no user or session is made and nothing reaches the API.
// The same provider's well-formed token logs in (the control).
func TestOAuthIDTokenIssuance(t *testing.T) {
	provider := startIDTokenProvider(t)
	api := newUpstream(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
	inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		login oauth small {
			issuer %[2]s
			client_id gw
			client_secret gw-secret
			redirect_uris %[1]s/app
		}
	}
}
%[1]s {
	stepup_session
	route /api* {
		stepup
		reverse_proxy %[3]s
	}
	respond 404
}
`, base, provider.srv.URL, api.srv.URL), WaitFor: []string{base + "/.well-known/jwks.json"}})
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct {
		name   string
		claims func(now int64) map[string]any
		ok     bool
	}{
		{"several audiences, no azp", func(now int64) map[string]any {
			return map[string]any{"aud": []string{"gw", "another-client"}, "iat": now}
		}, false},
		{"another client's azp", func(now int64) map[string]any {
			return map[string]any{"aud": []string{"gw", "another-client"}, "azp": "another-client", "iat": now}
		}, false},
		{"one audience, another azp", func(now int64) map[string]any {
			return map[string]any{"aud": "gw", "azp": "another-client", "iat": now}
		}, false},
		{"iat an hour ahead", func(now int64) map[string]any { return map[string]any{"aud": "gw", "iat": now + 3600} }, false},
		{"iat a minute past the leeway", func(now int64) map[string]any { return map[string]any{"aud": "gw", "iat": now + 90} }, false},
		{"no iat", func(now int64) map[string]any { return map[string]any{"aud": "gw"} }, false},
		{"several audiences and azp (the control)", func(now int64) map[string]any {
			return map[string]any{"aud": []string{"gw", "another-client"}, "azp": "gw", "iat": now}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			provider.mu.Lock()
			provider.claims = func(nonce string) map[string]any {
				now := time.Now().Unix()
				c := map[string]any{"iss": provider.srv.URL, "sub": "sam", "nonce": nonce, "exp": now + 7200}
				for k, v := range tc.claims(now) {
					c[k] = v
				}
				return c
			}
			provider.mu.Unlock()
			before := strings.Count(inst.Log(), `"login.succeeded"`)
			c := sessionclient.New(base)
			verifier, challenge := pkcePair(t)
			start, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/oauth/small/authorize",
				Body: map[string]string{"redirect_uri": base + "/app", "code_challenge": challenge, "code_challenge_method": "S256"}})
			if err != nil || start.Status != 200 {
				t.Fatalf("authorize: %v %v", start, err)
			}
			// The provider sends the browser straight back.
			atProvider := fetch(t, noRedirects, "GET", start.String("authorization_url"), nil)
			cb := atProvider.header.Get("Location")
			got := fetch(t, noRedirects, "GET", cb, http.Header{"Cookie": {"__Host-stepup-oauth=" + browserBinding(start)}})
			app, _ := url.Parse(got.header.Get("Location"))
			if got.status != http.StatusSeeOther || app == nil || app.Path != "/app" {
				t.Fatalf("callback: %d %q %s", got.status, got.header.Get("Location"), got.body)
			}
			ticket := app.Query().Get("challenge_token")
			if !tc.ok {
				if ticket != "" || app.Query().Get("error") != "access_denied" {
					t.Errorf("the app got %s", app.RawQuery)
				}
				if strings.Count(inst.Log(), `"login.succeeded"`) != before {
					t.Error("a login succeeded")
				}
				return
			}
			if r, err := c.Finalize(ticket, verifier); err != nil || r.Status != 200 {
				t.Fatalf("finalize: %v %v", r, err)
			}
			if got := fetch(t, newClient(t), "GET", base+"/api/me", bearer(c.AccessToken)); got.status != 200 {
				t.Errorf("the control's call: %d %s", got.status, got.body)
			}
		})
	}
	if n := api.hits.Load(); n != 1 {
		t.Errorf("the API was reached %d times, want 1 (the control)", n)
	}
}
