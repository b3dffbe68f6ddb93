package caddystepup

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// serveQuietly is serve for another goroutine than the test's: it reports
// nothing, and counts the upstream's calls.
func serveQuietly(h *Handler, r *http.Request) (*httptest.ResponseRecorder, *served) {
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	seen := &served{}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen.calls++
		w.WriteHeader(http.StatusOK)
		return nil
	})
	rec := httptest.NewRecorder()
	_ = h.ServeHTTP(rec, r, next)
	return rec, seen
}

// TestRequestsBeforeStartWaitForIt: a request that reaches a stepup
// handler before its app has started (Caddy starts a new config's apps in
// no set order) waits and gets the started app's answer; when the config
// is cleaned up without starting, or the request ends first, it is
// refused as unavailable.
func TestRequestsBeforeStartWaitForIt(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"payments:read"}}})
	tok := mintToken(t, app, nil)
	started := app.runtime()
	notStarted := func() {
		app.rt.Store(nil)
		app.started = newStartSignal()
	}

	notStarted()
	answered := make(chan *httptest.ResponseRecorder)
	go func() {
		rec, _ := serveQuietly(h, request("GET", "/x", "Bearer "+tok))
		answered <- rec
	}()
	time.Sleep(50 * time.Millisecond) // let the request arrive first; the answer does not depend on it
	app.rt.Store(started)
	app.started.fire()
	if rec := <-answered; rec.Code != 200 {
		t.Fatalf("after Start: %d %s", rec.Code, rec.Body)
	}

	notStarted()
	go func() {
		rec, _ := serveQuietly(h, request("GET", "/x", "Bearer "+tok))
		answered <- rec
	}()
	_ = app.Cleanup()
	if rec := <-answered; rec.Code != 503 {
		t.Fatalf("after a Cleanup without Start: %d %s", rec.Code, rec.Body)
	}

	notStarted()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec, seen := serveQuietly(h, request("GET", "/x", "Bearer "+tok).WithContext(ctx))
	if rec.Code != 503 || seen.calls != 0 {
		t.Fatalf("a request that ended: %d, upstream called %d times", rec.Code, seen.calls)
	}
}
