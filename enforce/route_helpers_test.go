package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const (
	testIssuer = "https://gateway.test"
	tokenType  = "at+jwt"
	acrPhone   = "urn:stepup:phone"
	acrHWK     = "urn:stepup:hwk"
	stepUpPath = "/v1/session/stepup/request"
)

// testHeaders are the identity headers of the test routes.
var testHeaders = IdentityHeaders{Subject: "X-Stepup-Sub", Scope: "X-Stepup-Scope", Session: "X-Stepup-Sid", Grant: "X-Stepup-Grant"}

// acrCatalogue: payouts:write and kyc:write earn acrPhone, profile:write
// the login's acr, admin is blocked.
var acrCatalogue = Catalogue{
	"payouts:write": {Grantable: true, ACR: []string{acrPhone}},
	"profile:write": {Grantable: true, ACR: []string{"urn:stepup:otp"}},
	"kyc:write":     {Grantable: true, ACR: []string{acrPhone}},
	"admin":         {},
}

// gateway is a running app's parts as a route sees them: a real signer
// and token verifier, a memory store for DPoP markers, and grants kept by
// grantBook.
type gateway struct {
	t      *testing.T
	signer *jwks.Signer
	grants *grantBook
	deps   Deps
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	signer, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := jwks.NewVerifier(jwks.VerifierOptions{
		Issuers: []jwks.Issuer{{Issuer: testIssuer, Audiences: []string{testIssuer}, Keys: signer.KeySource(),
			Algorithms: []string{"ES256"}, Types: []string{tokenType}}},
		CacheSize: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	g := &gateway{t: t, signer: signer, grants: &grantBook{grants: map[string]stepup.Grant{}}}
	g.deps = Deps{Tokens: tokens, Grants: g.grants, Proofs: &dpop.Verifier{Algorithms: []string{"ES256"}},
		Markers: mem, Nonces: dpop.NewNonces(nil, 0), Now: time.Now}
	return g
}

// token mints an access token of the gateway, with mutate's changes.
func (g *gateway) token(mutate func(map[string]any)) string {
	g.t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": testIssuer, "aud": testIssuer, "sub": "usr_alice", "sid": "ses_1",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": "openid payments:read",
	}
	if mutate != nil {
		mutate(claims)
	}
	tok, err := g.signer.Sign(tokenType, claims)
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

func newTestRoute(t *testing.T, cfg RouteConfig, scopes Catalogue) *Route {
	t.Helper()
	if cfg.Realm == "" {
		cfg.Realm = "stepup"
	}
	cfg.Headers, cfg.StepUpRequestPath, cfg.Issuer = testHeaders, stepUpPath, testIssuer
	if cfg.DPoPAlgorithms == nil {
		cfg.DPoPAlgorithms = []string{"ES256"}
	}
	ro, err := NewRoute(cfg, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

func bearer(method, target, token string, body string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// grantBook keeps single-use grants as the engine's contract says: one
// use, for its own user, session and scope; down makes it fail as a store
// outage does.
type grantBook struct {
	mu     sync.Mutex
	grants map[string]stepup.Grant // by id
	owner  map[string]string       // id → user|session
	spent  []string
	down   bool
}

func (b *grantBook) add(id, user, session, scope string, metadata map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.owner == nil {
		b.owner = map[string]string{}
	}
	b.grants[id] = stepup.Grant{ID: id, Scope: scope, Metadata: metadata}
	b.owner[id] = user + "|" + session
}

func (b *grantBook) ConsumeGrant(_ context.Context, id, user, session, scope string) (*stepup.Grant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return nil, errors.Join(stepup.ErrUnavailable, errors.New("store down"))
	}
	g, ok := b.grants[id]
	if !ok || g.Scope != scope || b.owner[id] != user+"|"+session {
		return nil, stepup.ErrUnauthorized
	}
	delete(b.grants, id)
	b.spent = append(b.spent, id)
	return &g, nil
}

// challenge is the JSON body of a refusal.
type challenge struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Type      string `json:"type"`
	Scope     string `json:"scope"`
	ACRValues string `json:"acr_values"`
	MaxAge    int64  `json:"max_age"`
	StepUp    *struct {
		Request string `json:"request"`
		Scope   string `json:"scope"`
	} `json:"step_up"`
}

func readChallenge(t *testing.T, r *Refusal) challenge {
	t.Helper()
	var c challenge
	if err := json.Unmarshal(r.Body, &c); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	if c.Code == "" || c.Message == "" || c.Type == "" {
		t.Fatalf("body %s lacks code, message or type", r.Body)
	}
	return c
}
