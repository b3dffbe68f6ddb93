package main

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
)

// inbox is the customer's OTP webhook (`sender webhook <url>/send`): it
// keeps the last code sent to each destination so the users can type it.
type inbox struct {
	mu    sync.Mutex
	codes map[string]string
}

func serveInbox(addr string) (*inbox, error) {
	in := &inbox{codes: map[string]string{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ To, Code string }
		if r.URL.Path != "/send" || json.NewDecoder(r.Body).Decode(&m) != nil || m.To == "" {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		in.codes[m.To] = m.Code
		in.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	return in, nil
}

// code is the last code sent to a destination; the gateway delivers it
// before it answers, so it is there once the call that sent it returns.
func (in *inbox) code(to string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.codes[to]
}
