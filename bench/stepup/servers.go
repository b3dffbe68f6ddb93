package main

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
)

// hookAnswer is the delegation hook's decision for every request: review,
// one SMS step, a single-use grant for 5 minutes.
const hookAnswer = `{"status":"review","granted_for":300,"grant_mode":"single-use","steps":[{"order":1,"key":"verify_sms","expiration_duration":600}]}`

// hook is the customer's delegation hook. It times itself (from its
// handler's start to its answer written) so the report can tell the
// gateway's time from the hook's.
type hook struct {
	rec    *benchkit.Recorder // own times; Take starts a phase
	mu     sync.Mutex
	byUser map[string]time.Duration // the last call's own time, by user_id
}

func serveHook(addr string) (*hook, error) {
	h := &hook{rec: benchkit.NewRecorder(), byUser: map[string]time.Duration{}}
	return h, serve(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req struct {
			ScopeRequested string `json:"scope_requested"`
			UserID         string `json:"user_id"`
		}
		if r.URL.Path != "/hook" || json.NewDecoder(r.Body).Decode(&req) != nil || req.UserID == "" {
			http.Error(w, "bad hook call", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(hookAnswer))
		own := time.Since(start)
		h.rec.Add("hook's own time", own)
		h.mu.Lock()
		h.byUser[req.UserID] = own
		h.mu.Unlock()
	}))
}

func (h *hook) ownTime(userID string) (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.byUser[userID]
	return d, ok
}

// upstream is the legacy API behind `stepup transfer:write`: it counts the
// requests that reach it.
type upstream struct{ hits atomic.Int64 }

func serveUpstream(addr string) (*upstream, error) {
	u := &upstream{}
	return u, serve(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
}

func serve(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go http.Serve(ln, h)
	return nil
}
