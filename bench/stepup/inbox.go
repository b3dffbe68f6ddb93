package main

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"
)

// inbox is the customer's OTP webhook (`sender webhook <url>/send`): it
// keeps the last code sent to each destination so the users can type it.
type inbox struct {
	mu    sync.Mutex
	codes map[string]string
	rec   *recorder // own time per delivery
}

func serveInbox(addr string) (*inbox, error) {
	in := &inbox{codes: map[string]string{}, rec: newRecorder()}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var m struct{ To, Code string }
		if r.URL.Path != "/send" || json.NewDecoder(r.Body).Decode(&m) != nil || m.To == "" {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		// The code is stored before the answer: the gateway answers its
		// caller only after this one.
		in.mu.Lock()
		in.codes[m.To] = m.Code
		in.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		in.mu.Lock()
		in.rec.add("OTP webhook's own time", time.Since(start))
		in.mu.Unlock()
	}))
	return in, nil
}

// takeOwnTimes returns the recorded own times and starts a new record.
func (in *inbox) takeOwnTimes() *recorder {
	in.mu.Lock()
	defer in.mu.Unlock()
	rec := in.rec
	in.rec = newRecorder()
	return rec
}

// code is the last code sent to a destination; the gateway delivers it
// before it answers, so it is there once the call that sent it returns.
func (in *inbox) code(to string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.codes[to]
}
