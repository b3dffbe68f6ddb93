package tests

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// The app's backend receiving Prelude's session webhooks, written from
// Prelude's documentation: a POST of {"app_id", "events": [{"id", "type",
// "created_at", "payload"}]}, X-Webhook-Signature "rsassa-pss-sha256=" +
// base64url RSASSA-PSS SHA-256 of the raw body, X-Webhook-Signature-Key-Id
// the key's kid in the app's JWKS.

// wireEvent is one event as the receiver reads it.
type wireEvent struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	CreatedAt string         `json:"created_at"`
	Payload   map[string]any `json:"payload"`
}

// webhookDelivery is one request the receiver got.
type webhookDelivery struct {
	header http.Header
	body   []byte
	appID  string
	event  wireEvent
}

// webhookReceiver records every well-formed delivery (one event per
// request) and answers 200. While gate is set, each request waits for it
// to close before answering.
type webhookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []webhookDelivery
	gate chan struct{}
	bad  int // requests that were not one event in Prelude's envelope
}

func (rcv *webhookReceiver) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			AppID  string      `json:"app_id"`
			Events []wireEvent `json:"events"`
		}
		rcv.mu.Lock()
		gate := rcv.gate
		if r.Method != http.MethodPost || json.Unmarshal(body, &env) != nil || len(env.Events) != 1 {
			rcv.bad++
			rcv.mu.Unlock()
			http.Error(w, "not a webhook", http.StatusBadRequest)
			return
		}
		rcv.got = append(rcv.got, webhookDelivery{header: r.Header.Clone(), body: body, appID: env.AppID, event: env.Events[0]})
		rcv.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	})
}

// newWebhookReceiver serves the receiver now.
func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	rcv := &webhookReceiver{}
	rcv.srv = httptest.NewServer(rcv.handler())
	t.Cleanup(rcv.srv.Close)
	return rcv
}

// laterWebhookReceiver is a receiver that is down: its URL, and a function
// that brings it up on that address.
func laterWebhookReceiver(t *testing.T) (string, func() *webhookReceiver) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t)) // nothing listens there until up
	return "http://" + addr, func() *webhookReceiver {
		rcv := &webhookReceiver{}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("bringing the receiver up on %s: %v", addr, err)
		}
		rcv.srv = httptest.NewUnstartedServer(rcv.handler())
		rcv.srv.Listener.Close()
		rcv.srv.Listener = l
		rcv.srv.Start()
		t.Cleanup(rcv.srv.Close)
		return rcv
	}
}

// deliveries are what arrived so far.
func (rcv *webhookReceiver) deliveries() []webhookDelivery {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]webhookDelivery(nil), rcv.got...)
}

// waitFor waits until an event of typ for which match holds has arrived,
// and returns its delivery. The bound only turns a hang into a failure.
func (rcv *webhookReceiver) waitFor(t *testing.T, typ string, match func(p map[string]any) bool) webhookDelivery {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, d := range rcv.deliveries() {
			if d.event.Type == typ && match(d.event.Payload) {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s arrived; got %d deliveries", typ, len(rcv.deliveries()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// of counts the deliveries of an event type for which match holds.
func (rcv *webhookReceiver) of(typ string, match func(p map[string]any) bool) []webhookDelivery {
	var out []webhookDelivery
	for _, d := range rcv.deliveries() {
		if d.event.Type == typ && match(d.event.Payload) {
			out = append(out, d)
		}
	}
	return out
}

// gatewayJWKS fetches what the gateway publishes at /.well-known/jwks.json.
func gatewayJWKS(t *testing.T, base string) jwk.Set {
	t.Helper()
	got := fetch(t, newClient(t), "GET", base+"/.well-known/jwks.json", nil)
	if got.status != 200 {
		t.Fatalf("JWKS: %d", got.status)
	}
	set, err := jwk.Parse(got.body)
	if err != nil {
		t.Fatalf("JWKS %s: %v", got.body, err)
	}
	return set
}

// verifiedWebhook checks a delivery as a receiver would: the key its
// X-Webhook-Signature-Key-Id names, in the gateway's JWKS, must be an RSA
// key for PS256 that verifies the signature over the raw body (crypto/rsa,
// the salt as long as the hash, RFC 7518 §3.5).
func verifiedWebhook(t *testing.T, base string, d webhookDelivery) {
	t.Helper()
	key, ok := gatewayJWKS(t, base).LookupKeyID(d.header.Get("X-Webhook-Signature-Key-Id"))
	if !ok {
		t.Fatalf("the key id %q is not in the gateway's JWKS", d.header.Get("X-Webhook-Signature-Key-Id"))
	}
	if alg, _ := key.Algorithm(); alg.String() != "PS256" {
		t.Errorf("the webhook key's alg is %v, want PS256", alg)
	}
	var pub rsa.PublicKey
	if err := jwk.Export(key, &pub); err != nil {
		t.Fatalf("the webhook key is not RSA: %v", err)
	}
	sig, ok := strings.CutPrefix(d.header.Get("X-Webhook-Signature"), "rsassa-pss-sha256=")
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil {
		t.Fatalf("X-Webhook-Signature %q", d.header.Get("X-Webhook-Signature"))
	}
	sum := sha256.Sum256(d.body)
	if err := rsa.VerifyPSS(&pub, crypto.SHA256, sum[:], raw, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Errorf("the %s webhook's signature does not verify: %v", d.event.Type, err)
	}
	tampered := append([]byte(nil), d.body...)
	tampered[len(tampered)-2] ^= 1
	tsum := sha256.Sum256(tampered)
	if rsa.VerifyPSS(&pub, crypto.SHA256, tsum[:], raw, nil) == nil {
		t.Error("the signature verifies another body")
	}
}

// verifiedHookCall checks a delegation hook call the same way, for the
// algorithm the key it names declares: PS256 (RSASSA-PSS) or ES256 (raw
// r||s); the signature is base64url with no prefix, as Prelude's hook
// documentation writes it.
func verifiedHookCall(t *testing.T, base string, header http.Header, body []byte) string {
	t.Helper()
	key, ok := gatewayJWKS(t, base).LookupKeyID(header.Get("X-Webhook-Signature-Key-Id"))
	if !ok {
		t.Fatalf("the hook's key id %q is not in the gateway's JWKS", header.Get("X-Webhook-Signature-Key-Id"))
	}
	raw, err := base64.RawURLEncoding.DecodeString(header.Get("X-Webhook-Signature"))
	if err != nil {
		t.Fatalf("hook signature %q", header.Get("X-Webhook-Signature"))
	}
	sum := sha256.Sum256(body)
	alg, _ := key.Algorithm()
	switch alg.String() {
	case "PS256":
		var pub rsa.PublicKey
		if err := jwk.Export(key, &pub); err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(&pub, crypto.SHA256, sum[:], raw, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Errorf("the PS256 hook signature does not verify: %v", err)
		}
	case "ES256":
		var pub ecdsa.PublicKey
		if err := jwk.Export(key, &pub); err != nil {
			t.Fatal(err)
		}
		if len(raw) != 64 || !ecdsa.Verify(&pub, sum[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])) {
			t.Error("the ES256 hook signature does not verify")
		}
	default:
		t.Fatalf("the hook's key declares alg %v", alg)
	}
	return alg.String()
}
