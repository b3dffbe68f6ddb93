package sessionapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

func TestRequestsThatCarryASecret(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		header http.Header
		want   bool
	}{
		{"an OAuth callback", "/v1/session/login/oauth/okta/callback?code=c&state=s", nil, true},
		{"a callback behind a path prefix", "/auth/v1/session/login/oauth/okta/callback?code=c", nil, true},
		{"a callback for a provider not served", "/v1/session/login/oauth/not-here/callback?code=c", nil, true},
		{"a refresh token in a header", "/v1/session/refresh", http.Header{"X-Refresh-Token": {"ses_x.1.y"}}, true},
		{"a flow ID in a header", "/v1/session/login/otp/check", http.Header{"X-Verification-Token": {"vfy_x"}}, true},
		{"a refresh with cookies only", "/v1/session/refresh", http.Header{"Cookie": {"__Host-stepup-refresh=ses_x.1.y"}}, false},
		{"an OAuth authorize", "/v1/session/login/oauth/okta/authorize", nil, false},
		{"a login start", "/v1/session/login/otp", nil, false},
		{"the key set", "/.well-known/jwks.json", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://api.test"+tc.target, nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			if got := CarriesSecret(r); got != tc.want {
				t.Errorf("CarriesSecret = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRevokeTakesTheSessionsProof: a refresh token alone (read from a log,
// a stolen cookie) ends nothing, in either channel; nor does a proof of
// another key. The session's own proof ends it.
func TestRevokeTakesTheSessionsProof(t *testing.T) {
	e := newEnv(t)
	c := e.login(t)
	tok := c.RefreshToken
	for name, h := range map[string]http.Header{
		"cookie": {"Cookie": {refreshCookie + "=" + tok}},
		"header": {refreshHeader: {tok}},
	} {
		expect(t, e.call("POST", "/v1/session/revoke", "", h), 400, "missing_dpop_proof")
		if r, err := c.Refresh(""); err != nil || r.Status != 200 {
			t.Fatalf("the session after a logout with the token alone in a %s: %v %v", name, r, err)
		}
	}
	thief := e.client()
	thief.RefreshToken = c.RefreshToken
	if r, err := thief.Revoke(); err != nil || r.Status != 400 || r.Code() != "dpop_key_mismatch" {
		t.Fatalf("logout with another key's proof: %v %v", r, err)
	}
	if r, err := c.Refresh(""); err != nil || r.Status != 200 {
		t.Fatalf("the session after a logout with another key: %v %v", r, err)
	}
	if r, err := c.Revoke(); err != nil || r.Status != 204 {
		t.Fatalf("logout with the session's proof: %v %v", r, err)
	}
	if r, err := c.Refresh(""); err != nil || r.Status != 401 {
		t.Fatalf("the session after logout: %v %v", r, err)
	}
}

// TestRefreshCookieWinsOverAStaleHeader: a client that stored a refresh
// token from an earlier version's response header keeps sending it, stale
// after the first rotation; the cookie, current, is the one read, so the
// stale copy neither fails the refresh nor revokes the session as a reuse.
func TestRefreshCookieWinsOverAStaleHeader(t *testing.T) {
	e := newEnv(t)
	c := e.login(t)
	stale := c.RefreshToken
	for i := range 3 {
		r, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/refresh", SessionDPoP: true, Refresh: true,
			Header: http.Header{refreshHeader: {stale}}})
		if err != nil || r.Status != 200 {
			t.Fatalf("refresh %d with a stale header and the current cookie: %v %v", i, r, err)
		}
	}
	// Alone, the header is still read (such a client without cookies).
	c.RefreshToken, stale = "", c.RefreshToken
	r, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/refresh", SessionDPoP: true, Header: http.Header{refreshHeader: {stale}}})
	if err != nil || r.Status != 200 {
		t.Fatalf("refresh with the header only: %v %v", r, err)
	}
}

// TestAnswersThatCarryASecret: answers that hand a refresh token or a login
// flow ID to a client without cookies are the ones left out of the log.
func TestAnswersThatCarryASecret(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"a refresh token", http.Header{"X-Refresh-Token": {"ses_x.1.y"}, "X-Refresh-Token-Expires-At": {"2030-01-01T00:00:00Z"}}, true},
		{"a login flow ID", http.Header{"X-Verification-Token": {"vfy_x"}}, true},
		{"cookies only", http.Header{"Set-Cookie": {"__Host-stepup-refresh=ses_x.1.y"}}, false},
		{"a nonce", http.Header{"Dpop-Nonce": {"n"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AnswerCarriesSecret(tc.header); got != tc.want {
				t.Errorf("AnswerCarriesSecret = %v, want %v", got, tc.want)
			}
		})
	}
}
