package benchkit

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// InboxOwnTime is the label of the OTP webhook's own time per delivery.
const InboxOwnTime = "OTP webhook's own time"

// Inbox is the customer's OTP webhook (`sender webhook <url>/send`): it
// keeps the last code sent to each destination so the users can type it.
type Inbox struct {
	mu       sync.Mutex
	codes    map[string]string
	ownTimes *Recorder // nil: not timed
}

// ServeInbox listens on addr and serves the webhook in the background. With
// a non-nil ownTimes it records there, under InboxOwnTime, each delivery's
// own time (handler start → answer written), so a report can tell the
// gateway's time from the webhook's.
func ServeInbox(addr string, ownTimes *Recorder) (*Inbox, error) {
	in := &Inbox{codes: map[string]string{}, ownTimes: ownTimes}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, http.HandlerFunc(in.deliver))
	return in, nil
}

// deliver stores a delivery's code.
func (in *Inbox) deliver(w http.ResponseWriter, r *http.Request) {
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
	if in.ownTimes != nil {
		in.ownTimes.Add(InboxOwnTime, time.Since(start))
	}
}

// Code is the last code sent to a destination; the gateway delivers it
// before it answers, so it is there once the call that sent it returns.
func (in *Inbox) Code(to string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.codes[to]
}

// LoginByPhone logs c in as the SDK does, with a code sent to the phone
// number to and read from the inbox. It returns login/otp's answer when
// that is not 204, else login/otp/check's.
func (in *Inbox) LoginByPhone(c *sessionclient.Client, to string) (*sessionclient.Response, error) {
	resp, err := c.StartLogin("phone_number", to)
	if err == nil && resp.Status == http.StatusNoContent {
		resp, err = c.CheckLogin(in.Code(to))
	}
	return resp, err
}
