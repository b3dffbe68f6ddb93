package tests

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// upstream is the legacy API behind the gateway: it counts hits and keeps
// the headers and body of the last request.
type upstream struct {
	srv      *httptest.Server
	hits     atomic.Int64
	mu       sync.Mutex
	last     http.Header
	lastBody []byte
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.lastBody = body
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"legacy":"ok"}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) body() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastBody
}

func (u *upstream) lastHeader(name string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last.Values(name)
}
