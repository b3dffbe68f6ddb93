package otp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testSigner is a tiny ES256 Signer over a key generated in the test.
type testSigner struct{ key *ecdsa.PrivateKey }

func (s testSigner) KeyID() string { return "test-kid" }

func (s testSigner) SignDetached(payload []byte) (string, error) {
	sum := sha256.Sum256(payload)
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := append(r.FillBytes(make([]byte, 32)), sv.FillBytes(make([]byte, 32))...)
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// receiver is the customer's side: it verifies both signatures and records
// what it got.
type receiver struct {
	pub      *ecdsa.PublicKey
	secret   []byte
	status   int
	hang     bool
	redirect string // answer with a redirect to this URL
	received atomic.Int32

	mu     sync.Mutex
	bodies []map[string]any
	header http.Header
	bad    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.received.Add(1)
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.header = r.Header.Clone()
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		rc.bad = append(rc.bad, "body is not JSON")
	}
	rc.bodies = append(rc.bodies, fields)
	if !verifyES256(rc.pub, body, r.Header.Get("X-Webhook-Signature")) {
		rc.bad = append(rc.bad, "X-Webhook-Signature does not verify")
	}
	if rc.secret != nil && !verifyHMAC(rc.secret, body, r.Header.Get("X-Stepup-Signature")) {
		rc.bad = append(rc.bad, "X-Stepup-Signature does not verify")
	}
	rc.mu.Unlock()
	if rc.hang {
		<-r.Context().Done()
		return
	}
	if rc.redirect != "" {
		http.Redirect(w, r, rc.redirect, http.StatusTemporaryRedirect)
		return
	}
	w.WriteHeader(rc.status)
	io.WriteString(w, `{"ignored":"response body"}`)
}

func verifyES256(pub *ecdsa.PublicKey, body []byte, sig string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(raw) != 64 {
		return false
	}
	sum := sha256.Sum256(body)
	return ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:]))
}

func verifyHMAC(secret, body []byte, header string) bool {
	t, v1, ok := strings.Cut(header, ",v1=")
	if !ok || !strings.HasPrefix(t, "t=") {
		return false
	}
	if _, err := strconv.ParseInt(t[2:], 10, 64); err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(t[2:] + "."))
	mac.Write(body)
	got, err := hex.DecodeString(v1)
	return err == nil && hmac.Equal(got, mac.Sum(nil))
}

func stepUpMessage() Message {
	return Message{Channel: ChannelSMS, To: "+33612345678", Code: "918273", Purpose: PurposeStepUp,
		ExpiresAt: time.Unix(1_800_000_300, 0), ChallengeID: "ch_abc", Scope: "transfer:write", ID: "delivery-1"}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestWebhookSender(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := testSigner{key: key}
	secret := []byte("shared webhook secret")

	tests := []struct {
		name string
		// receiver setup
		status int
		hang   bool
		// sender setup
		secret     []byte
		timeout    time.Duration
		retries    int
		failDials  int // the first n dials go to a closed port
		msg        Message
		wantErr    bool
		wantPosts  int32
		wantDials  int32
		wantFields map[string]any
	}{
		{
			name: "step-up delivered with both signatures", status: http.StatusOK, secret: secret,
			msg: stepUpMessage(), wantPosts: 1, wantDials: 1,
			wantFields: map[string]any{"channel": "sms", "to": "+33612345678", "code": "918273", "purpose": "step_up",
				"expires_at": float64(1_800_000_300), "challenge_id": "ch_abc", "scope": "transfer:write"},
		},
		{
			name: "login without shared secret", status: http.StatusNoContent,
			msg:       Message{Channel: ChannelEmail, To: "a@example.com", Code: "111222", Purpose: PurposeLogin, ExpiresAt: time.Unix(1_800_000_000, 0)},
			wantPosts: 1, wantDials: 1,
			wantFields: map[string]any{"channel": "email", "to": "a@example.com", "code": "111222", "purpose": "login", "expires_at": float64(1_800_000_000)},
		},
		{name: "500 is an error and is not retried", status: http.StatusInternalServerError, msg: stepUpMessage(), wantErr: true, wantPosts: 1, wantDials: 1},
		{name: "redirect is not followed", status: http.StatusTemporaryRedirect, msg: stepUpMessage(), wantErr: true, wantPosts: 1, wantDials: 1},
		{name: "timeout is an error and is not retried", hang: true, timeout: 200 * time.Millisecond, msg: stepUpMessage(), wantErr: true, wantPosts: 1, wantDials: 1},
		{name: "connection refused is retried", status: http.StatusOK, failDials: 1, msg: stepUpMessage(), wantPosts: 1, wantDials: 2},
		{name: "retries are bounded", status: http.StatusOK, failDials: 10, msg: stepUpMessage(), wantErr: true, wantPosts: 0, wantDials: 3},
		{name: "negative retries disable retrying", status: http.StatusOK, failDials: 1, retries: -1, msg: stepUpMessage(), wantErr: true, wantPosts: 0, wantDials: 1},
		{name: "invalid message is not sent", status: http.StatusOK, msg: Message{Channel: ChannelSMS, To: "+1", Purpose: PurposeLogin}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{pub: &key.PublicKey, secret: tt.secret, status: tt.status, hang: tt.hang}
			var redirected atomic.Int32
			if tt.status == http.StatusTemporaryRedirect {
				target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirected.Add(1) }))
				defer target.Close()
				rc.redirect = target.URL
			}
			srv := httptest.NewServer(rc)
			defer srv.Close()

			sender, err := NewWebhookSender(WebhookOptions{URL: srv.URL + "/otp", Secret: tt.secret, Signer: signer, Timeout: tt.timeout, Retries: tt.retries})
			if err != nil {
				t.Fatal(err)
			}
			ws := sender.(*webhookSender)
			ws.backoff = time.Millisecond
			var dials atomic.Int32
			refused := closedAddr(t)
			ws.dialHook = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if n := dials.Add(1); int(n) <= tt.failDials {
					addr = refused
				}
				return ws.dialer.DialContext(ctx, network, addr)
			}

			err = sender.Send(context.Background(), tt.msg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && tt.msg.Code != "" && strings.Contains(err.Error(), tt.msg.Code) {
				t.Fatalf("error reveals the code: %v", err)
			}
			if got := rc.received.Load(); got != tt.wantPosts {
				t.Fatalf("receiver got %d requests, want %d", got, tt.wantPosts)
			}
			if got := dials.Load(); got != tt.wantDials {
				t.Fatalf("%d dials, want %d", got, tt.wantDials)
			}
			if redirected.Load() != 0 {
				t.Fatal("redirect followed")
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if len(rc.bad) > 0 {
				t.Fatalf("receiver rejected the request: %v", rc.bad)
			}
			if tt.wantFields == nil {
				return
			}
			if len(rc.bodies[0]) != len(tt.wantFields) {
				t.Errorf("body has %d members, want %d: %v", len(rc.bodies[0]), len(tt.wantFields), rc.bodies[0])
			}
			for k, want := range tt.wantFields {
				if got := rc.bodies[0][k]; got != want {
					t.Errorf("body %s = %v, want %v", k, got, want)
				}
			}
			h := rc.header
			for name, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "caddy-stepup", "X-Webhook-Signature-Key-Id": "test-kid"} {
				if got := h.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			if tt.msg.ID != "" && h.Get("X-Stepup-Delivery-Id") != tt.msg.ID {
				t.Errorf("X-Stepup-Delivery-Id = %q, want %q", h.Get("X-Stepup-Delivery-Id"), tt.msg.ID)
			}
			if h.Get("X-Stepup-Delivery-Id") == "" {
				t.Error("no X-Stepup-Delivery-Id")
			}
			if (h.Get("X-Stepup-Signature") != "") != (tt.secret != nil) {
				t.Errorf("X-Stepup-Signature %q with secret %v", h.Get("X-Stepup-Signature"), tt.secret != nil)
			}
		})
	}
}

func TestWebhookSenderRetryKeepsIdempotencyKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var keys []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("X-Stepup-Delivery-Id"))
		mu.Unlock()
	}))
	defer srv.Close()
	sender, err := NewWebhookSender(WebhookOptions{URL: srv.URL, Signer: testSigner{key: key}})
	if err != nil {
		t.Fatal(err)
	}
	msg := stepUpMessage()
	msg.ID = ""
	if err := sender.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || len(keys[0]) < 22 {
		t.Fatalf("generated X-Stepup-Delivery-Id %q", keys)
	}
}

func TestNewWebhookSenderOptions(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		o    WebhookOptions
	}{
		{"no signer", WebhookOptions{URL: "https://hooks.example.com/otp"}},
		{"relative url", WebhookOptions{URL: "/otp", Signer: testSigner{key: key}}},
		{"other scheme", WebhookOptions{URL: "ftp://hooks.example.com/otp", Signer: testSigner{key: key}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewWebhookSender(tt.o); err == nil || s != nil {
				t.Fatalf("NewWebhookSender = %v, %v; want error", s, err)
			}
		})
	}
}

func TestWebhookSenderSigningFailure(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posts.Add(1) }))
	defer srv.Close()
	sender, err := NewWebhookSender(WebhookOptions{URL: srv.URL, Signer: failingSigner{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), stepUpMessage()); err == nil || !errors.Is(err, errSign) {
		t.Fatalf("Send = %v, want signing error", err)
	}
	if posts.Load() != 0 {
		t.Fatal("unsigned request sent")
	}
}

var errSign = errors.New("no key")

type failingSigner struct{}

func (failingSigner) SignDetached([]byte) (string, error) { return "", errSign }
func (failingSigner) KeyID() string                       { return "none" }
