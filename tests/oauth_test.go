package tests

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// OAuth / OpenID Connect login with panva's oidc-provider as the provider:
// the gateway is its confidential client; the browser's part (following
// redirects, filling in the provider's login and consent pages) is played
// here with a cookie jar.

const gatewaySecret = "a-secret-the-provider-and-the-gateway-share"

// oauthEnv is a gateway with `login oauth okta` against a real provider.
type oauthEnv struct {
	base     string
	provider *oidcProvider
	api      *upstream // behind /api/transfers, /acr and the legacy paths
	codes    *otpReceiver
	caddy    *testcaddy.Instance
}

// The app's redirect URIs, under the gateway's origin.
const (
	appDone   = "/app/done?from=okta"
	appPlain  = "/app"
	oauthPass = "a long enough password 7"
)

// startOAuthGateway starts the gateway with the provider's block extended
// by providerOptions (trust_verified_identifiers, acr_map, ...).
func startOAuthGateway(t *testing.T, store, providerOptions string) *oauthEnv {
	t.Helper()
	port := testcaddy.FreePort(t)
	env := &oauthEnv{base: fmt.Sprintf("http://127.0.0.1:%d", port), api: newUpstream(t), codes: newOTPReceiver(t)}
	env.provider = startOIDCProvider(t, "OIDC_GATEWAY_REDIRECT="+env.base+"/v1/session/login/oauth/okta/callback",
		"OIDC_GATEWAY_SECRET="+gatewaySecret)
	env.caddy = testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		%[2]s
		login otp phone_number email_address
		login password
		login oauth okta {
			issuer %[3]s
			client_id stepup-gateway
			client_secret {env.STEPUP_TEST_OKTA_SECRET}
			redirect_uris %[1]s%[6]s %[1]s%[7]s
			%[8]s
		}
		otp {
			sender webhook %[4]s/send
		}
		limits {
			client_unproven_sends 1000 1h
			client_destination_sends 1000 1h
			client_unfinished_logins 1000 10m
			client_login_starts 1000 10m
			client_sends 1000 1h
		}
		scope transfer:write {
			direct {
				step verify_sms 5m
				grant_mode single-use
			}
		}
	}
}
%[1]s {
	stepup_session
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[5]s
	}
	route /acr* {
		stepup {
			acr urn:stepup:otp
		}
		reverse_proxy %[5]s
	}
	route /legacy* {
		reverse_proxy %[5]s
	}
	respond /app* "the app" 200
	respond 404
}
`, env.base, store, env.provider.Issuer, env.codes.srv.URL, env.api.srv.URL, appDone, appPlain, providerOptions),
		Env: []string{"STEPUP_TEST_OKTA_SECRET=" + gatewaySecret}, WaitFor: []string{env.base + "/.well-known/jwks.json"}})
	return env
}

// pkcePair is an app's PKCE verifier and its S256 challenge.
func pkcePair(t *testing.T) (verifier, challenge string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize is the SDK's initiateOAuthLogin.
func (env *oauthEnv) authorize(t *testing.T, c *sessionclient.Client, redirect, challenge string) *sessionclient.Response {
	t.Helper()
	resp, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/oauth/okta/authorize",
		Body: map[string]string{"redirect_uri": redirect, "code_challenge": challenge, "code_challenge_method": "S256"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// browserBinding is the __Host-stepup-oauth cookie an authorize answer
// set, as the browser keeps it ("" when none was set).
func browserBinding(resp *sessionclient.Response) string {
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if c.Name == "__Host-stepup-oauth" {
			return c.Value
		}
	}
	return ""
}

var (
	formAction = regexp.MustCompile(`(?is)<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	formInput  = regexp.MustCompile(`(?i)<input\b[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"`)
)

// browse follows the browser's way from the authorization URL: the
// provider's pages filled in with fields, until a redirect leaves the
// provider; it returns that redirect's target.
func (env *oauthEnv) browse(t *testing.T, authURL string, fields map[string]string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", authURL, nil)
	for step := 0; step < 20; step++ {
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			next, err := req.URL.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(next.String(), env.provider.Issuer) {
				return next
			}
			req, _ = http.NewRequest("GET", next.String(), nil)
			continue
		}
		m := formAction.FindStringSubmatch(string(body))
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("%s: %d, no form:\n%s", req.URL, resp.StatusCode, body)
		}
		form := url.Values{}
		for _, in := range formInput.FindAllStringSubmatch(m[2], -1) {
			name := html.UnescapeString(in[1])
			form.Set(name, html.UnescapeString(in[2]))
			if v, ok := fields[name]; ok {
				form.Set(name, v)
			}
		}
		action, _ := req.URL.Parse(html.UnescapeString(m[1]))
		req, _ = http.NewRequest("POST", action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	t.Fatal("the provider never sent the browser away")
	return nil
}

// callback follows the gateway's callback to where it sends the browser,
// in a browser that holds the binding (the cookie) given, if any.
func (env *oauthEnv) callback(t *testing.T, cb *url.URL, binding string) (*url.URL, answer) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var header http.Header
	if binding != "" {
		header = http.Header{"Cookie": {"__Host-stepup-oauth=" + binding}}
	}
	got := fetch(t, client, "GET", cb.String(), header)
	if got.status != http.StatusSeeOther {
		return nil, got
	}
	loc, err := url.Parse(got.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc, got
}

// oauthLogin runs a whole login for account (its page's fields) and
// returns the app's client, logged in.
func (env *oauthEnv) oauthLogin(t *testing.T, fields map[string]string) *sessionclient.Client {
	t.Helper()
	c := sessionclient.New(env.base)
	verifier, challenge := pkcePair(t)
	start := env.authorize(t, c, env.base+appDone, challenge)
	if start.Status != 200 || !strings.HasPrefix(start.String("authorization_url"), env.provider.Issuer+"/") || browserBinding(start) == "" {
		t.Fatalf("authorize: %v %q", start, start.Header.Values("Set-Cookie"))
	}
	cb := env.browse(t, start.String("authorization_url"), fields)
	if cb.Path != "/v1/session/login/oauth/okta/callback" || cb.Query().Get("code") == "" {
		t.Fatalf("the provider sent the browser to %s", cb)
	}
	app, got := env.callback(t, cb, browserBinding(start))
	if app == nil || app.Path != "/app/done" || app.Query().Get("from") != "okta" || !strings.HasPrefix(app.Query().Get("challenge_token"), "lgn_") {
		t.Fatalf("the gateway's callback: %d %q %s", got.status, got.header.Get("Location"), got.body)
	}
	if got.cache != "no-store" {
		t.Errorf("callback Cache-Control %q", got.cache)
	}
	done, err := c.Finalize(app.Query().Get("challenge_token"), verifier)
	if err != nil || done.Status != 200 || c.AccessToken == "" {
		t.Fatalf("finalize: %v %v", done, err)
	}
	return c
}

// TestOAuthLogin: an OpenID Connect login through oidc-provider into a
// gateway session linked to the provider's subject; with the provider
// trusted with its verified addresses (trust_verified_identifiers), its
// verified phone number receives the step-up code and its email address
// reaches the user by code; the same subject logs in to the same user; an
// address someone holds stays theirs. On memory and Redis.
func TestOAuthLogin(t *testing.T) {
	requireOIDCHarness(t)
	for _, st := range sdkStores[:2] {
		t.Run(st.name, func(t *testing.T) {
			env := startOAuthGateway(t, st.store(t), "trust_verified_identifiers")
			account := map[string]string{"login": "carol", "email": "carol@example.com", "phone": "+15555550142", "amr": "pwd otp"}
			c := env.oauthLogin(t, account)
			claims := sessionclient.Claims(c.AccessToken)
			sub, _ := claims["sub"].(string)
			if !strings.HasPrefix(sub, "usr_") || claims["acr"] != "urn:stepup:oauth" || fmt.Sprint(claims["amr"]) != "[pwd otp]" {
				t.Fatalf("the session's token: %v", claims)
			}
			// The trusted provider's verified phone number is the
			// user's: the step-up code goes there.
			tok := stepUpBySMS(t, c, env.codes, "transfer:write", nil).String("access_token")
			if msg := env.codes.last(t, "step_up"); msg.To != account["phone"] {
				t.Errorf("the step-up code went to %s", msg.To)
			}
			if got := fetch(t, newClient(t), "POST", env.base+"/api/transfers", bearer(tok)); got.status != 200 {
				t.Fatalf("the stepped-up call: %d %s", got.status, got.body)
			}
			// The same subject again: the same user. Its verified email
			// was indexed: an email code login reaches it too.
			again := env.oauthLogin(t, account)
			if sessionclient.Claims(again.AccessToken)["sub"] != sub {
				t.Error("a second login of the same subject made another user")
			}
			byCode := sessionclient.New(env.base)
			if r, err := byCode.StartLogin("email_address", "carol@example.com"); err != nil || r.Status != 204 {
				t.Fatalf("code login: %v %v", r, err)
			}
			if r, err := byCode.CheckLogin(env.codes.lastCode(t, "carol@example.com")); err != nil || r.Status != 200 ||
				sessionclient.Claims(byCode.AccessToken)["sub"] != sub {
				t.Errorf("the email code login found %v (%v %v)", sessionclient.Claims(byCode.AccessToken)["sub"], r, err)
			}
			// An address another user owns stays theirs: the provider's
			// word links no existing account.
			owner := sessionclient.New(env.base)
			if r, _ := owner.StartLogin("email_address", "dave@example.com"); r.Status != 204 {
				t.Fatal("start")
			}
			if r, _ := owner.CheckLogin(env.codes.lastCode(t, "dave@example.com")); r.Status != 200 {
				t.Fatal("check")
			}
			impostor := env.oauthLogin(t, map[string]string{"login": "mallory", "email": "dave@example.com"})
			if sessionclient.Claims(impostor.AccessToken)["sub"] == sessionclient.Claims(owner.AccessToken)["sub"] {
				t.Error("a provider's verified email took over the account that owns it")
			}
		})
	}
}

// TestOAuthLoginRefusals: what the app and the browser can get wrong, and
// what an attacker holding a ticket or a callback URL can try. The app's
// redirect URI must be a listed one exactly: URLs on the gateway's own
// origin (a proxied legacy path, the app's other pages) and paths browsers
// read as another host are refused before anything is stored or sent.
func TestOAuthLoginRefusals(t *testing.T) {
	requireOIDCHarness(t)
	for _, st := range sdkStores[:2] {
		t.Run(st.name, func(t *testing.T) {
			oauthLoginRefusals(t, startOAuthGateway(t, st.store(t), ""))
		})
	}
}

func oauthLoginRefusals(t *testing.T, env *oauthEnv) {
	c := sessionclient.New(env.base)
	_, challenge := pkcePair(t)
	for name, tc := range map[string]struct {
		path, redirect, challenge, method, code string
	}{
		"another origin":         {"okta", "https://evil.example/app", challenge, "S256", "invalid_redirect_uri"},
		"scheme-relative":        {"okta", "//evil.example/", challenge, "S256", "invalid_redirect_uri"},
		"encoded slashes":        {"okta", "%2f%2fevil.example", challenge, "S256", "invalid_redirect_uri"},
		"encoded, on the origin": {"okta", env.base + "/%2f%2fevil.example", challenge, "S256", "invalid_redirect_uri"},
		"a proxied legacy path":  {"okta", env.base + "/legacy/anything", challenge, "S256", "invalid_redirect_uri"},
		"an unlisted app page":   {"okta", env.base + "/app/other", challenge, "S256", "invalid_redirect_uri"},
		"the origin itself":      {"okta", env.base + "/", challenge, "S256", "invalid_redirect_uri"},
		"a trailing slash":       {"okta", env.base + "/app/", challenge, "S256", "invalid_redirect_uri"},
		"another query":          {"okta", env.base + "/app/done?from=evil", challenge, "S256", "invalid_redirect_uri"},
		"a query added":          {"okta", env.base + appDone + "&next=//evil.example", challenge, "S256", "invalid_redirect_uri"},
		"upper-case scheme":      {"okta", "HTTP" + strings.TrimPrefix(env.base, "http") + appPlain, challenge, "S256", "invalid_redirect_uri"},
		"an encoded letter":      {"okta", env.base + "/%61pp", challenge, "S256", "invalid_redirect_uri"},
		"a fragment":             {"okta", env.base + "/app#x", challenge, "S256", "invalid_redirect_uri"},
		"user info":              {"okta", "http://a@" + strings.TrimPrefix(env.base, "http://") + "/app", challenge, "S256", "invalid_redirect_uri"},
		"plain PKCE":             {"okta", env.base + "/app", challenge, "plain", "bad_request"},
		"short challenge":        {"okta", env.base + "/app", "abc", "S256", "bad_request"},
		"unknown provider":       {"google", env.base + "/app", challenge, "S256", "oauth_provider_not_configured"},
		"a provider of text":     {"ok%20ta", env.base + "/app", challenge, "S256", "not_configured"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/oauth/" + tc.path + "/authorize",
				Body: map[string]string{"redirect_uri": tc.redirect, "code_challenge": tc.challenge, "code_challenge_method": tc.method}})
			want := 400
			if tc.code == "not_configured" {
				want = 403
			}
			if err != nil || r.Status != want || r.String("code") != tc.code || r.String("authorization_url") != "" {
				t.Errorf("got %v %v, want %d %s", r, err, want, tc.code)
			}
			if r != nil && len(r.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("a refused start set %q", r.Header.Values("Set-Cookie"))
			}
		})
	}
	if n := env.api.hits.Load(); n != 0 || env.codes.count() != 0 {
		t.Errorf("refused starts reached the upstream %d times and sent %d codes", n, env.codes.count())
	}

	verifier, challenge := pkcePair(t)
	start := env.authorize(t, c, env.base+"/app", challenge)
	binding := browserBinding(start)
	cb := env.browse(t, start.String("authorization_url"), map[string]string{"login": "erin"})
	app, _ := env.callback(t, cb, binding)
	ticket := app.Query().Get("challenge_token")
	// The callback URL used again (state taken): no second ticket.
	if again, got := env.callback(t, cb, binding); again != nil || got.status != 400 || got.code != "bad_request" {
		t.Errorf("a replayed callback: %d %s", got.status, got.body)
	}
	// A ticket without its verifier, or with another, is spent and gone.
	thief := sessionclient.New(env.base)
	other, _ := pkcePair(t)
	if r, _ := thief.Finalize(ticket, other); r.Status != 400 || r.String("code") != "invalid_challenge_token" {
		t.Errorf("another verifier: %v", r)
	}
	if r, _ := c.Finalize(ticket, verifier); r.Status != 400 {
		t.Errorf("the right verifier after a wrong one: %v (a ticket is tried once)", r)
	}
	// The user says no at the provider: the app gets an error, no ticket.
	start = env.authorize(t, c, env.base+"/app", challenge)
	authURL, _ := url.Parse(start.String("authorization_url"))
	denied := fmt.Sprintf("%s/v1/session/login/oauth/okta/callback?error=access_denied&state=%s", env.base, authURL.Query().Get("state"))
	back, got := env.callback(t, mustURL(t, denied), browserBinding(start))
	if back == nil || back.Query().Get("error") != "access_denied" || back.Query().Get("challenge_token") != "" {
		t.Errorf("a denied login: %d %q", got.status, got.header.Get("Location"))
	}
	// A forged code with a real state: the provider refuses it.
	start = env.authorize(t, c, env.base+"/app", challenge)
	authURL, _ = url.Parse(start.String("authorization_url"))
	forged := fmt.Sprintf("%s/v1/session/login/oauth/okta/callback?code=forged&state=%s", env.base, authURL.Query().Get("state"))
	back, got = env.callback(t, mustURL(t, forged), browserBinding(start))
	if back == nil || back.Query().Get("error") != "access_denied" || back.Query().Get("challenge_token") != "" {
		t.Errorf("a forged code: %d %q %s", got.status, got.header.Get("Location"), got.body)
	}
	// A state the gateway never issued has nowhere to go.
	if back, got := env.callback(t, mustURL(t, env.base+"/v1/session/login/oauth/okta/callback?code=x&state="+strings.Repeat("A", 43)), binding); back != nil || got.status != 400 {
		t.Errorf("an unknown state: %d %q", got.status, got.header.Get("Location"))
	}
}

// TestOAuthCallbackInAnotherBrowser: an attacker starts a login (holding
// its binding cookie and PKCE verifier) and gets the victim's browser to
// the provider; the victim signs in there, and the provider sends the
// victim's browser to the gateway's callback. That browser does not hold
// the attacker's binding: the callback is refused (400, JSON, no redirect,
// no ticket), the code is never redeemed, and the state is spent, so the
// callback URL is worth nothing to the attacker afterwards either. The
// same for a login-CSRF: the attacker's own callback URL opened in the
// victim's browser. On memory and Redis.
func TestOAuthCallbackInAnotherBrowser(t *testing.T) {
	requireOIDCHarness(t)
	for _, st := range sdkStores[:2] {
		t.Run(st.name, func(t *testing.T) {
			env := startOAuthGateway(t, st.store(t), "trust_verified_identifiers")
			attacker := sessionclient.New(env.base)
			_, challenge := pkcePair(t)
			// The victim's browser has logins of its own under way.
			victimsOwn := browserBinding(env.authorize(t, sessionclient.New(env.base), env.base+appPlain, challenge))
			for name, victimBinding := range map[string]string{"without a binding": "", "with its own binding": victimsOwn} {
				start := env.authorize(t, attacker, env.base+appDone, challenge)
				attackers := browserBinding(start)
				if attackers == "" || attackers == victimsOwn {
					t.Fatalf("bindings %q and %q", attackers, victimsOwn)
				}
				cb := env.browse(t, start.String("authorization_url"), map[string]string{"login": "victim",
					"email": "victim@example.com", "phone": "+15555550190"})
				before := strings.Count(env.caddy.Log(), `"login.succeeded"`)
				app, got := env.callback(t, cb, victimBinding)
				if app != nil || got.status != 400 || got.code != "bad_request" || got.header.Get("Location") != "" ||
					strings.Contains(string(got.body), "challenge_token") {
					t.Fatalf("%s: the callback answered %d %q %s", name, got.status, got.header.Get("Location"), got.body)
				}
				if again, got := env.callback(t, cb, attackers); again != nil || got.status != 400 {
					t.Errorf("%s: the spent state, in the attacker's browser: %d %q", name, got.status, got.header.Get("Location"))
				}
				if strings.Count(env.caddy.Log(), `"login.succeeded"`) != before {
					t.Errorf("%s: a login succeeded", name)
				}
			}
			if env.codes.count() != 0 || env.api.hits.Load() != 0 {
				t.Errorf("%d codes sent, %d upstream calls", env.codes.count(), env.api.hits.Load())
			}
			if strings.Contains(env.caddy.Log(), "victim@example.com") || strings.Contains(env.caddy.Log(), "+15555550190") {
				t.Error("the victim's addresses are in the log")
			}
			// The victim's own login, in the victim's own browser, passes
			// (and is logged as a success, as the refusals were not).
			before := strings.Count(env.caddy.Log(), `"login.succeeded"`)
			env.oauthLogin(t, map[string]string{"login": "victim"})
			// caddy's output reaches the test through a pipe, a moment
			// after the answer: wait for the entry (and no second one).
			deadline := time.Now().Add(5 * time.Second)
			for strings.Count(env.caddy.Log(), `"login.succeeded"`) == before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := strings.Count(env.caddy.Log(), `"login.succeeded"`); n != before+1 {
				t.Errorf("the victim's own login was logged as a success %d times, want 1", n-before)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
