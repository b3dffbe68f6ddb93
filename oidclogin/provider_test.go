package oidclogin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// testIDP is a small OpenID provider for ID tokens a real provider will
// not issue (several audiences without azp, another client's azp, an iat
// in the future): go-oidc's own test server answers discovery and the
// key set; its token endpoint here answers every code with an ID token of
// the claims the test chose, signed with the provider's key.
type testIDP struct {
	srv *httptest.Server
	key *rsa.PrivateKey

	mu     sync.Mutex
	claims map[string]any
}

const (
	testClientID = "gw"
	testKeyID    = "k1"
)

func newTestIDP(t *testing.T) *testIDP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIDP{key: key}
	keys := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: testKeyID, Algorithm: oidc.RS256}}}
	mux := http.NewServeMux()
	mux.Handle("/", keys)
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != testClientID || secret != "secret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		idp.mu.Lock()
		claims, _ := json.Marshal(idp.claims)
		idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60,
			"id_token": oidctest.SignIDToken(key, testKeyID, oidc.RS256, string(claims))})
	})
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	keys.SetIssuer(idp.srv.URL)
	return idp
}

// login runs AuthCodeURL and Exchange against the provider, whose ID
// token says claims (the issuer, nonce and expiry filled in when absent).
func (idp *testIDP) login(t *testing.T, p *Provider, now time.Time, claims map[string]any) (*Identity, error) {
	t.Helper()
	const nonce = "nonce-of-this-login"
	full := map[string]any{"iss": idp.srv.URL, "nonce": nonce, "exp": now.Add(5 * time.Minute).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(full, k)
			continue
		}
		full[k] = v
	}
	idp.mu.Lock()
	idp.claims = full
	idp.mu.Unlock()
	ctx := context.Background()
	if _, err := p.AuthCodeURL(ctx, "state", nonce, "verifier-verifier-verifier-verifier-verifier"); err != nil {
		t.Fatal(err)
	}
	return p.Exchange(ctx, "code", "verifier-verifier-verifier-verifier-verifier", nonce)
}

// TestExchangeChecksIssuance: through go-oidc and the strict reading, an
// ID token must be issued to the gateway (aud holds it; with several
// audiences azp must be present; azp, when present, is the gateway) and
// not in the future (iat at most leeway ahead of the gateway's clock).
func TestExchangeChecksIssuance(t *testing.T) {
	idp := newTestIDP(t)
	now := time.Now().Truncate(time.Second)
	p, err := New(Config{Issuer: idp.srv.URL, ClientID: testClientID, ClientSecret: "secret",
		RedirectURL: "https://gw.test/cb", Now: func() time.Time { return now }, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	iat := now.Unix()
	for name, tc := range map[string]struct {
		claims map[string]any
		ok     bool
	}{
		"issued to the gateway":               {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat}, true},
		"aud an array of the gateway":         {map[string]any{"sub": "carol", "aud": []string{testClientID}, "iat": iat}, true},
		"several audiences and azp":           {map[string]any{"sub": "carol", "aud": []string{testClientID, "other"}, "azp": testClientID, "iat": iat}, true},
		"several audiences, no azp":           {map[string]any{"sub": "carol", "aud": []string{testClientID, "other"}, "iat": iat}, false},
		"several audiences, another azp":      {map[string]any{"sub": "carol", "aud": []string{testClientID, "other"}, "azp": "other", "iat": iat}, false},
		"the gateway twice, no azp":           {map[string]any{"sub": "carol", "aud": []string{testClientID, testClientID}, "iat": iat}, false},
		"one audience, another azp":           {map[string]any{"sub": "carol", "aud": testClientID, "azp": "other", "iat": iat}, false},
		"one audience, azp a case variant":    {map[string]any{"sub": "carol", "aud": testClientID, "azp": "GW", "iat": iat}, false},
		"one audience, azp empty":             {map[string]any{"sub": "carol", "aud": testClientID, "azp": "", "iat": iat}, false},
		"one audience, azp the gateway":       {map[string]any{"sub": "carol", "aud": testClientID, "azp": testClientID, "iat": iat}, true},
		"another audience":                    {map[string]any{"sub": "carol", "aud": "other", "iat": iat}, false},
		"iat at the leeway":                   {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat + 30}, true},
		"iat a second past the leeway":        {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat + 31}, false},
		"iat an hour ahead":                   {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat + 3600}, false},
		"iat a fraction past the leeway":      {map[string]any{"sub": "carol", "aud": testClientID, "iat": float64(iat) + 30.5}, false},
		"no iat":                              {map[string]any{"sub": "carol", "aud": testClientID}, false},
		"expired":                             {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat - 600, "exp": iat - 1}, false},
		"another issuer":                      {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat, "iss": "https://other.test"}, false},
		"another login's nonce":               {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat, "nonce": "other"}, false},
		"no nonce":                            {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat, "nonce": nil}, false},
		"iat far ahead, exp further (a year)": {map[string]any{"sub": "carol", "aud": testClientID, "iat": iat + 365*86400, "exp": iat + 366*86400}, false},
	} {
		id, err := idp.login(t, p, now, tc.claims)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.ok && id.Subject != "carol":
			t.Errorf("%s: subject %q", name, id.Subject)
		case !tc.ok && !errors.Is(err, ErrRefused):
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
}

// TestCheckIssuance: the rule by itself.
func TestCheckIssuance(t *testing.T) {
	now := time.Unix(1700000000, 0)
	gw, x, empty := "gw", "x", ""
	for i, tc := range []struct {
		aud  []string
		azp  *string
		iat  time.Time
		want bool
	}{
		{[]string{"gw"}, nil, now, true},
		{[]string{"gw"}, &gw, now, true},
		{[]string{"gw"}, &empty, now, false},
		{[]string{"gw", "x"}, &gw, now, true},
		{[]string{"gw", "x"}, nil, now, false},
		{[]string{"gw", "x"}, &empty, now, false},
		{[]string{"gw", "x"}, &x, now, false},
		{[]string{"gw"}, &x, now, false},
		{[]string{"x"}, &gw, now, false},
		{nil, nil, now, false},
		{[]string{"gw"}, nil, now.Add(10 * time.Second), true},
		{[]string{"gw"}, nil, now.Add(10*time.Second + time.Nanosecond), false},
	} {
		id := &Identity{audience: tc.aud, azp: tc.azp, issuedAt: tc.iat}
		if err := id.checkIssuance("gw", now, 10*time.Second); (err == nil) != tc.want {
			t.Errorf("case %d (%s): %v", i, strings.Join(tc.aud, ","), err)
		}
	}
}
