package caddystepup

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestSessionHandlerLeavesSecretsOutOfTheAccessLog: a request that
// carries a secret where Caddy's access log writes it in clear (an OAuth
// callback's URL, a refresh token or flow ID in a header) is marked
// log_skip before anything is answered; others are logged as usual.
func TestSessionHandlerLeavesSecretsOutOfTheAccessLog(t *testing.T) {
	h := &SessionHandler{app: &App{}} // not started: every answer is a 503
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, tc := range []struct {
		name, target string
		header       http.Header
		skip         bool
	}{
		{"an OAuth callback", "/v1/session/login/oauth/okta/callback?code=c&state=s", nil, true},
		{"a refresh token in a header", "/v1/session/refresh", http.Header{"X-Refresh-Token": {"ses_x.1.y"}}, true},
		{"a flow ID in a header", "/v1/session/login/otp/retry", http.Header{"X-Verification-Token": {"vfy_x"}}, true},
		{"a refresh with its cookie", "/v1/session/refresh", http.Header{"Cookie": {"__Host-stepup-refresh=ses_x.1.y"}}, false},
		{"a login start", "/v1/session/login/otp", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "https://api.test"+tc.target, nil)
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
			for k, v := range tc.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d", w.Code)
			}
			skip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.LogSkipVar).(bool)
			if skip != tc.skip {
				t.Errorf("log_skip = %v, want %v", skip, tc.skip)
			}
		})
	}
}
