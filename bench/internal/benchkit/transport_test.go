package benchkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestTimingTransportLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/session/refresh" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	client, tr := NewTimedClient()
	get := func(path string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/v1/session/refresh") // before any phase: not recorded
	rec := NewRecorder()
	tr.SetPhase(rec)
	get("/v1/session/refresh")
	get("/api/transfers")
	tr.SetPhase(nil)
	get("/api/transfers") // after the phase: not recorded
	if got, want := rec.Labels(), []string{"/api/transfers 401", "/refresh 200"}; !slices.Equal(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	for _, l := range rec.Labels() {
		if n := rec.Summary(l).N; n != 1 {
			t.Errorf("%s: n = %d, want 1", l, n)
		}
	}
}
