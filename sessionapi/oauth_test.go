package sessionapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// fakeProvider is the OpenID provider's side for the handler: every code
// is carol's, and it counts the codes it was asked to redeem.
type fakeProvider struct {
	mu        sync.Mutex
	exchanges int
}

func (p *fakeProvider) AuthCodeURL(_ context.Context, state, _, _ string) (string, error) {
	return "https://idp.test/authorize?state=" + url.QueryEscape(state), nil
}

func (p *fakeProvider) Exchange(context.Context, string, string, string) (*stepup.OAuthIdentity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exchanges++
	return &stepup.OAuthIdentity{Issuer: "https://idp.test", Subject: "carol"}, nil
}

func withProvider(p *fakeProvider) func(*stepup.Config) {
	return func(cfg *stepup.Config) {
		cfg.OAuth = map[string]stepup.OAuthLogin{"okta": {Provider: p, Issuer: "https://idp.test", RedirectURIs: []string{origin + "/app"}}}
	}
}

const authorizeBody = `{"redirect_uri":"` + origin + `/app","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","code_challenge_method":"S256"}`

// authorize posts the SDK's initiateOAuthLogin with the cookies given and
// returns the answer and the state of the authorization URL.
func (e *env) authorize(t *testing.T, cookie string) (*http.Response, string) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}, "Origin": {origin}}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	w := e.call("POST", "/v1/session/login/oauth/okta/authorize", authorizeBody, h)
	if w.Code != 200 {
		t.Fatalf("authorize: %d %s", w.Code, w.Body)
	}
	var body struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(body.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	return w.Result(), u.Query().Get("state")
}

// TestOAuthBrowserCookie: the authorize answer sets the browser binding
// as a __Host- cookie (Secure, HttpOnly, Path=/, 10 minutes; SameSite=Lax,
// or None when the API serves other origins), keeps the browser's binding
// for its next logins, and the callback refuses a browser without it.
func TestOAuthBrowserCookie(t *testing.T) {
	for _, cors := range [][]string{nil, {"https://app.test"}} {
		p := &fakeProvider{}
		e := newEnvWith(t, cors, withProvider(p))
		resp, state := e.authorize(t, "")
		var binding *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == oauthCookie {
				binding = c
			}
		}
		wantSameSite := http.SameSiteLaxMode
		if cors != nil {
			wantSameSite = http.SameSiteNoneMode
		}
		if binding == nil || len(binding.Value) != 43 || !binding.Secure || !binding.HttpOnly || binding.Path != "/" ||
			binding.Domain != "" || binding.MaxAge != 600 || binding.SameSite != wantSameSite {
			t.Fatalf("cors %v: Set-Cookie %q", cors, resp.Header.Values("Set-Cookie"))
		}
		again, _ := e.authorize(t, oauthCookie+"="+binding.Value)
		if got := again.Header.Get("Set-Cookie"); !strings.HasPrefix(got, oauthCookie+"="+binding.Value+";") {
			t.Errorf("a second login in the same browser set %q", got)
		}
		// Without the cookie, with another browser's, or with two: a JSON
		// 400, no redirect, no code redeemed, the state spent.
		for name, cookie := range map[string]string{
			"no cookie":               "",
			"another browser's":       oauthCookie + "=" + strings.Repeat("A", 43),
			"the value under another": "__Host-stepup-login=" + binding.Value,
		} {
			_, st := e.authorize(t, oauthCookie+"="+binding.Value)
			h := http.Header{}
			if cookie != "" {
				h.Set("Cookie", cookie)
			}
			w := e.call("GET", "/v1/session/login/oauth/okta/callback?code=c&state="+st, "", h)
			if w.Code != 400 || w.Header().Get("Location") != "" || decode(t, w).Code != "bad_request" {
				t.Errorf("%s: %d %q %s", name, w.Code, w.Header().Get("Location"), w.Body)
			}
			w = e.call("GET", "/v1/session/login/oauth/okta/callback?code=c&state="+st, "", http.Header{"Cookie": {oauthCookie + "=" + binding.Value}})
			if w.Code != 400 {
				t.Errorf("%s: the state was not spent: %d", name, w.Code)
			}
		}
		if p.exchanges != 0 {
			t.Errorf("%d codes were redeemed", p.exchanges)
		}
		w := e.call("GET", "/v1/session/login/oauth/okta/callback?code=c&state="+state, "", http.Header{"Cookie": {oauthCookie + "=" + binding.Value}})
		if loc := w.Header().Get("Location"); w.Code != 303 || !strings.HasPrefix(loc, origin+"/app?challenge_token=lgn_") {
			t.Errorf("the right browser: %d %q %s", w.Code, loc, w.Body)
		}
	}
}
