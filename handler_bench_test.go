package caddystepup

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkServeHTTPCachedToken measures the handler's own cost on the hot
// path: a valid token already in the verified-token cache.
func BenchmarkServeHTTPCachedToken(b *testing.B) {
	app := testApp(b)
	h := testHandler(b, app, &Handler{Scopes: []string{"payments:read"}})
	auth := "Bearer " + mintToken(b, app, nil)
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
	}
}
