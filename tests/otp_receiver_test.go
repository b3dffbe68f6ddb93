package tests

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// otpMessage is what the gateway's webhook OTP sender posts
// (stepup/otp/webhook.go).
type otpMessage struct {
	Channel     string `json:"channel"`
	To          string `json:"to"`
	Code        string `json:"code"`
	Purpose     string `json:"purpose"`
	ExpiresAt   int64  `json:"expires_at"`
	ChallengeID string `json:"challenge_id,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// otpReceiver is the customer's OTP webhook, shared by every whole-server
// test. POST /send records a signed delivery (one without
// X-Webhook-Signature, a destination or a code is refused, which fails the
// gateway's send). GET /codes?to=<destination> answers the newest message
// for that destination with how many were sent there ({..., "sent": n}),
// 404 if none yet: the Node tests (tests/sdk/harness.mjs) read their codes
// from it. The gateway delivers before it answers, so a message is there
// when the call that caused it returns.
type otpReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []otpMessage
}

func newOTPReceiver(t *testing.T) *otpReceiver {
	t.Helper()
	rcv := &otpReceiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send", func(w http.ResponseWriter, r *http.Request) {
		var m otpMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.To == "" || m.Code == "" || r.Header.Get("X-Webhook-Signature") == "" {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.msgs = append(rcv.msgs, m)
		rcv.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /codes", func(w http.ResponseWriter, r *http.Request) {
		last, sent := rcv.newestTo(r.URL.Query().Get("to"))
		if sent == 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			otpMessage
			Sent int `json:"sent"`
		}{last, sent})
	})
	rcv.srv = httptest.NewServer(mux)
	t.Cleanup(rcv.srv.Close)
	return rcv
}

// newestTo is the newest message to a destination and how many were sent
// there (0 and a zero message if none).
func (rcv *otpReceiver) newestTo(to string) (otpMessage, int) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var last otpMessage
	sent := 0
	for _, m := range rcv.msgs {
		if m.To == to {
			last = m
			sent++
		}
	}
	return last, sent
}

// lastCode is the newest code sent to a destination; the test fails if
// none was.
func (rcv *otpReceiver) lastCode(t *testing.T, to string) string {
	t.Helper()
	last, sent := rcv.newestTo(to)
	if sent == 0 {
		t.Fatalf("no code was sent to %s", to)
	}
	return last.Code
}

// last is the newest message of a purpose ("login", "step_up"); the test
// fails if none was delivered.
func (rcv *otpReceiver) last(t *testing.T, purpose string) otpMessage {
	t.Helper()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i := len(rcv.msgs) - 1; i >= 0; i-- {
		if rcv.msgs[i].Purpose == purpose {
			return rcv.msgs[i]
		}
	}
	t.Fatalf("no %s code was delivered", purpose)
	return otpMessage{}
}

// count is how many messages were delivered in all.
func (rcv *otpReceiver) count() int {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return len(rcv.msgs)
}
