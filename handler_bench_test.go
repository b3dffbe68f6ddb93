package caddystepup

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// BenchmarkServeHTTPCachedToken measures the handler's own cost on the hot
// path: a valid token already in the verified-token cache.
func BenchmarkServeHTTPCachedToken(b *testing.B) {
	benchmarkRoute(b, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}}})
}

// BenchmarkServeHTTPACRRoute is the same request on a route that also
// requires an acr and a max_age (RFC 9470), which the token meets.
func BenchmarkServeHTTPACRRoute(b *testing.B) {
	benchmarkRoute(b, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}, ACR: []string{"urn:stepup:otp", "urn:stepup:phone"}, MaxAge: appconfig.Duration(time.Hour)}})
}

// BenchmarkServeHTTPRevocationList is the cached-token request of
// BenchmarkServeHTTPCachedToken with a revocation list of 0 and 100,000
// entries of the token's issuer (sessions, subjects and token IDs in turn),
// none of which names the token: the list is searched by sid, jti and sub
// on every request.
func BenchmarkServeHTTPRevocationList(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			app := testApp(b)
			list, _ := withRevocations(b, app, store.NewMemoryLedger(nil), revocation.Options{})
			kinds := revocation.Kinds
			until := time.Now().Add(time.Hour)
			for i := range n {
				k := kinds[i%len(kinds)]
				if err := list.Revoke(context.Background(), revocation.Entry{Kind: k, Issuer: testIssuer, Value: fmt.Sprintf("bench-%s-%d", k, i),
					Until: until}); err != nil {
					b.Fatal(err)
				}
			}
			// The reader has every write to catch up with; done before timing.
			if err := list.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			if list.Len() != n {
				b.Fatalf("%d entries, want %d", list.Len(), n)
			}
			benchmarkApp(b, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}}})
		})
	}
}

func benchmarkRoute(b *testing.B, route *Handler) {
	benchmarkApp(b, testApp(b), route)
}

func benchmarkApp(b *testing.B, app *App, route *Handler) {
	h := testHandler(b, app, route)
	auth := "Bearer " + mintToken(b, app, func(c map[string]any) {
		c["acr"], c["amr"], c["auth_time"] = "urn:stepup:phone", []string{"otp", "sms"}, time.Now().Unix()
	})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	b.ReportAllocs()
	runtime.GC() // the setup's garbage is not the loop's
	cpuBefore := processCPU()
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
	b.StopTimer()
	// CPU time of the whole process (the loop, the garbage collector, any
	// background reader) per request: on a shared machine, wall time per
	// request also counts the time other processes held the cores.
	b.ReportMetric(float64(processCPU()-cpuBefore)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
