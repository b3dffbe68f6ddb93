package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// Secrets and Caddy's access log: a site with `log` on (the default
// logging, to the process's output), a login by code, refreshes, an OAuth
// login through panva's oidc-provider, a client that still sends the old
// header channels, and logouts. Every secret value seen on the way is
// looked for in everything caddy wrote.

// startLoggedOAuthGateway is startOAuthGateway's deployment with the
// site's access log on; it returns the instance, whose output holds it.
func startLoggedOAuthGateway(t *testing.T) (*oauthEnv, *testcaddy.Instance) {
	t.Helper()
	port := testcaddy.FreePort(t)
	env := &oauthEnv{base: fmt.Sprintf("http://127.0.0.1:%d", port), api: newUpstream(t), codes: newOTPReceiver(t)}
	env.provider = startOIDCProvider(t, "OIDC_GATEWAY_REDIRECT="+env.base+"/v1/session/login/oauth/okta/callback",
		"OIDC_GATEWAY_SECRET="+gatewaySecret)
	inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		login otp email_address
		login oauth okta {
			issuer %[2]s
			client_id stepup-gateway
			client_secret {env.STEPUP_TEST_OKTA_SECRET}
			redirect_uris %[1]s/app/done?from=okta
		}
		otp {
			sender webhook %[3]s/send
		}
	}
}
%[1]s {
	log
	stepup_session
	respond /app* "the app" 200
	respond 404
}
`, env.base, env.provider.Issuer, env.codes.srv.URL),
		Env: []string{"STEPUP_TEST_OKTA_SECRET=" + gatewaySecret}, WaitFor: []string{env.base + "/.well-known/jwks.json"}})
	return env, inst
}

// secrets collects the secret values a test saw, by what they are.
type secrets map[string]string

func (s secrets) add(t *testing.T, what, value string) {
	t.Helper()
	if len(value) < 16 {
		t.Fatalf("%s %q: too short to be the secret it should be", what, value)
	}
	s[what] = value
}

// refreshSecret is the HMAC part of a refresh token: what makes it one.
func refreshSecret(tok string) string {
	parts := strings.Split(tok, ".")
	return parts[len(parts)-1]
}

// TestAccessLogsHoldNoSecrets: with the site's access log on, neither the
// refresh tokens (issued in a header and a cookie, sent back in either),
// nor the login flow IDs, nor the OAuth ticket, nor the provider's code
// and state appear in anything caddy writes; the requests and answers that
// carried none are in the access log (it was on). A refresh token alone
// ends no session.
func TestAccessLogsHoldNoSecrets(t *testing.T) {
	requireOIDCHarness(t)
	env, inst := startLoggedOAuthGateway(t)
	seen := secrets{}
	const email = "erin@example.com"

	// A login by code, two refreshes.
	c := sessionclient.New(env.base)
	if r, err := c.StartLogin("email_address", email); err != nil || r.Status != 204 {
		t.Fatalf("login/otp: %v %v", r, err)
	}
	seen.add(t, "the login flow ID", c.Verification)
	if r, err := c.RetryLogin(); err != nil || r.Status != 204 && r.Code() != "rate_limited" {
		t.Fatalf("login/otp/retry: %v %v", r, err)
	}
	checked, err := c.CheckLogin(env.codes.lastCode(t, email))
	if err != nil || checked.Status != 200 {
		t.Fatalf("login/otp/check: %v %v", checked, err)
	}
	// Clients without cookies (the mobile SDKs; a browser that blocks the
	// gateway's cookies) get the same token in X-Refresh-Token.
	if v := checked.Header.Get("X-Refresh-Token"); v != c.RefreshToken {
		t.Fatalf("login/otp/check answered X-Refresh-Token %q, the cookie %q", v, c.RefreshToken)
	}
	seen.add(t, "the refresh token of the login", c.RefreshToken)
	for i := range 2 {
		r, err := c.Refresh("")
		if err != nil || r.Status != 200 {
			t.Fatalf("refresh %d: %v %v", i, r, err)
		}
		if v := r.Header.Get("X-Refresh-Token"); v != c.RefreshToken {
			t.Fatalf("refresh %d answered X-Refresh-Token %q, the cookie %q", i, v, c.RefreshToken)
		}
		seen.add(t, fmt.Sprintf("the refresh token of refresh %d", i+1), c.RefreshToken)
	}

	// A client that uses the header channels (as the SDK does from its
	// IndexedDB copy, and the mobile SDKs always) sends them in request
	// headers: those requests are left out of the access log too.
	old := sessionclient.New(env.base)
	if r, err := old.StartLogin("email_address", "frank@example.com"); err != nil || r.Status != 204 {
		t.Fatalf("login/otp: %v %v", r, err)
	}
	seen.add(t, "a login flow ID sent in X-Verification-Token", old.Verification)
	if r, err := old.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp/check", SessionDPoP: true,
		Body: map[string]string{"code": env.codes.lastCode(t, "frank@example.com")}, Header: http.Header{"X-Verification-Token": {old.Verification}}}); err != nil || r.Status != 200 {
		t.Fatalf("login/otp/check with X-Verification-Token: %v %v", r, err)
	}
	stored := old.RefreshToken
	seen.add(t, "a refresh token sent in X-Refresh-Token", stored)
	old.RefreshToken = ""
	if r, err := old.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/refresh", SessionDPoP: true,
		Header: http.Header{"X-Refresh-Token": {stored}}}); err != nil || r.Status != 200 {
		t.Fatalf("refresh with X-Refresh-Token: %v %v", r, err)
	}
	seen.add(t, "the refresh token after the header refresh", old.RefreshToken)

	// /revoke with the refresh token alone, in the cookie or the header:
	// refused, and the session goes on.
	plain := newClient(t)
	for name, h := range map[string]http.Header{
		"cookie": {"Cookie": {"__Host-stepup-refresh=" + c.RefreshToken}},
		"header": {"X-Refresh-Token": {c.RefreshToken}},
	} {
		got := fetch(t, plain, "POST", env.base+"/v1/session/revoke", h)
		if got.status != http.StatusBadRequest || got.code != "missing_dpop_proof" || len(got.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("revoke with the refresh token alone in the %s: %d %s %v", name, got.status, got.body, got.header)
		}
	}
	if r, err := c.Refresh(""); err != nil || r.Status != 200 {
		t.Fatalf("the session after the refused revocations: %v %v", r, err)
	}
	seen.add(t, "the refresh token after the refused revocations", c.RefreshToken)

	// An OAuth login: the provider's code and state come back in the
	// callback's URL, the ticket leaves in its Location.
	o := sessionclient.New(env.base)
	verifier, challenge := pkcePair(t)
	start := env.authorize(t, o, env.base+"/app/done?from=okta", challenge)
	if start.Status != 200 {
		t.Fatalf("authorize: %v", start)
	}
	cb := env.browse(t, start.String("authorization_url"), map[string]string{"login": "grace", "email": "grace@example.com"})
	seen.add(t, "the provider's code", cb.Query().Get("code"))
	seen.add(t, "the OAuth state", cb.Query().Get("state"))
	binding := browserBinding(start)
	seen.add(t, "the OAuth browser binding", binding)
	app, got := env.callback(t, cb, binding)
	if app == nil {
		t.Fatalf("callback: %d %s", got.status, got.body)
	}
	seen.add(t, "the OAuth ticket", app.Query().Get("challenge_token"))
	if r, err := o.Finalize(app.Query().Get("challenge_token"), verifier); err != nil || r.Status != 200 {
		t.Fatalf("finalize: %v %v", r, err)
	}
	seen.add(t, "the refresh token of the OAuth login", o.RefreshToken)
	if r, err := o.Refresh(""); err != nil || r.Status != 200 {
		t.Fatalf("refresh after the OAuth login: %v %v", r, err)
	}
	seen.add(t, "the refresh token of the OAuth refresh", o.RefreshToken)

	// Logouts with the sessions' proofs.
	for _, cl := range []*sessionclient.Client{c, old, o} {
		if r, err := cl.Revoke(); err != nil || r.Status != 204 {
			t.Fatalf("logout: %v %v", r, err)
		}
	}

	// Let the last entries reach the output, then look.
	inst.Stop()
	out := inst.Log()
	// Answers that carry a refresh token or a flow ID in a header (login
	// starts, code checks, finalizes, refreshes) are left out; the others
	// are there.
	for _, path := range []string{"/v1/session/login/otp/retry", "/v1/session/revoke", "/v1/session/login/oauth/okta/authorize"} {
		if !strings.Contains(out, `"uri":"`+path+`"`) {
			t.Errorf("no access log entry for %s: the log was not on, and the search below proves nothing", path)
		}
	}
	for what, value := range seen {
		if strings.Contains(out, value) {
			t.Errorf("%s is in caddy's output", what)
		}
		if strings.HasPrefix(value, "ses_") && strings.Contains(out, refreshSecret(value)) {
			t.Errorf("the secret part of %s is in caddy's output", what)
		}
	}
	if t.Failed() {
		t.Logf("caddy's output:\n%s", out)
	}
}
