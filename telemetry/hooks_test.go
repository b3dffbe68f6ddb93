package telemetry

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection refused")
}

// TestMeasuredHookCalls: each hook call is timed by its status class, or
// as error when no answer came; the answer is passed on unchanged.
func TestMeasuredHookCalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	client := &http.Client{Transport: MeasureHooks(http.DefaultTransport)}
	before := scrape(t)
	for _, path := range []string{"/ok", "/ok", "/down"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[string]int{"/ok": 202, "/down": 503}[path]; resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if _, err := (&http.Client{Transport: MeasureHooks(failingTransport{})}).Get(srv.URL); err == nil {
		t.Fatal("a failed call succeeded")
	}
	wantMoved(t, "hook calls", moved(before, scrape(t)), map[string]float64{
		`caddy_stepup_hook_request_seconds_count{status="2xx"}`:   2,
		`caddy_stepup_hook_request_seconds_count{status="5xx"}`:   1,
		`caddy_stepup_hook_request_seconds_count{status="error"}`: 1,
	})
}
