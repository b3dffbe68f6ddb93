package caddystepup

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkServeHTTPCachedToken measures the handler's own cost on the hot
// path: a valid token already in the verified-token cache.
func BenchmarkServeHTTPCachedToken(b *testing.B) {
	benchmarkRoute(b, &Handler{Scopes: []string{"payments:read"}})
}

// BenchmarkServeHTTPACRRoute is the same request on a route that also
// requires an acr and a max_age (RFC 9470), which the token meets.
func BenchmarkServeHTTPACRRoute(b *testing.B) {
	benchmarkRoute(b, &Handler{Scopes: []string{"payments:read"}, ACR: []string{"urn:stepup:otp", "urn:stepup:phone"}, MaxAge: caddy.Duration(time.Hour)})
}

func benchmarkRoute(b *testing.B, route *Handler) {
	app := testApp(b)
	h := testHandler(b, app, route)
	auth := "Bearer " + mintToken(b, app, func(c map[string]any) {
		c["acr"], c["amr"], c["auth_time"] = "urn:stepup:phone", []string{"otp", "sms"}, time.Now().Unix()
	})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Header = http.Header{"Authorization": {auth}}
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
