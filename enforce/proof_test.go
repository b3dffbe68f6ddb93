package enforce

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const resourceURL = "https://api.test/payments"

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newChecker(t *testing.T) *ProofChecker {
	t.Helper()
	mem := store.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	return &ProofChecker{Verifier: &dpop.Verifier{Algorithms: []string{"ES256"}}, Store: mem}
}

func proofHeader(proofs ...string) http.Header {
	return http.Header{"Dpop": proofs}
}

func TestProofChecker(t *testing.T) {
	key, other := newKey(t), newKey(t)
	jkt := sessionclient.JKT(key)
	const token = "the.access.token"
	for _, tc := range []struct {
		name   string
		header http.Header
		method string
		url    string
		want   error
	}{
		{"valid", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, nil)), "POST", resourceURL, nil},
		{"valid, htu with a query the client dropped", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL+"?a=1", token, nil)), "POST", resourceURL, nil},
		{"no proof", http.Header{}, "POST", resourceURL, ErrInvalidProof},
		{"empty proof", proofHeader(""), "POST", resourceURL, ErrInvalidProof},
		{"two proofs", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, nil), sessionclient.ResourceProof(key, "POST", resourceURL, token, nil)), "POST", resourceURL, ErrInvalidProof},
		{"another key", proofHeader(sessionclient.ResourceProof(other, "POST", resourceURL, token, nil)), "POST", resourceURL, ErrKeyBinding},
		{"no ath", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, func(h, c map[string]any) { delete(c, "ath") })), "POST", resourceURL, ErrInvalidProof},
		{"ath of another token", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, "another.token.x", nil)), "POST", resourceURL, ErrInvalidProof},
		{"other method", proofHeader(sessionclient.ResourceProof(key, "GET", resourceURL, token, nil)), "POST", resourceURL, ErrInvalidProof},
		{"method in lower case", proofHeader(sessionclient.ResourceProof(key, "post", resourceURL, token, nil)), "POST", resourceURL, ErrInvalidProof},
		{"other path", proofHeader(sessionclient.ResourceProof(key, "POST", "https://api.test/admin", token, nil)), "POST", resourceURL, ErrInvalidProof},
		{"other host", proofHeader(sessionclient.ResourceProof(key, "POST", "https://evil.test/payments", token, nil)), "POST", resourceURL, ErrInvalidProof},
		{"http instead of https", proofHeader(sessionclient.ResourceProof(key, "POST", "http://api.test/payments", token, nil)), "POST", resourceURL, ErrInvalidProof},
		{"old iat", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, func(h, c map[string]any) { c["iat"] = time.Now().Add(-2 * time.Minute).Unix() })), "POST", resourceURL, ErrInvalidProof},
		{"future iat", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, func(h, c map[string]any) { c["iat"] = time.Now().Add(time.Minute).Unix() })), "POST", resourceURL, ErrInvalidProof},
		{"typ JWT", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, func(h, c map[string]any) { h["typ"] = "JWT" })), "POST", resourceURL, ErrInvalidProof},
		{"alg not allowed", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, func(h, c map[string]any) { h["alg"] = "ES384" })), "POST", resourceURL, ErrInvalidProof},
		{"private key in jwk", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, func(h, c map[string]any) {
			h["jwk"].(map[string]string)["d"] = "AAAA"
		})), "POST", resourceURL, ErrInvalidProof},
		{"no jti", proofHeader(sessionclient.ResourceProof(key, "POST", resourceURL, token, func(h, c map[string]any) { delete(c, "jti") })), "POST", resourceURL, ErrInvalidProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newChecker(t).Check(context.Background(), tc.header, tc.method, tc.url, token, jkt)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestProofReplay: a jti is single use through the store, also when many
// requests race with it, and across checkers sharing a store (instances).
func TestProofReplay(t *testing.T) {
	key := newKey(t)
	jkt := sessionclient.JKT(key)
	const token = "the.access.token"
	first := newChecker(t)
	second := &ProofChecker{Verifier: first.Verifier, Store: first.Store}
	proof := proofHeader(sessionclient.ResourceProof(key, "GET", resourceURL, token, nil))
	var passed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(pc *ProofChecker) {
			defer wg.Done()
			err := pc.Check(context.Background(), proof, "GET", resourceURL, token, jkt)
			switch {
			case err == nil:
				passed.Add(1)
			case !errors.Is(err, ErrInvalidProof):
				t.Errorf("replay: %v", err)
			}
		}(map[bool]*ProofChecker{true: first, false: second}[i%2 == 0])
	}
	wg.Wait()
	if passed.Load() != 1 {
		t.Fatalf("%d of 20 uses of one proof passed, want 1", passed.Load())
	}
	if ttl := first.markerTTL(); ttl < dpop.DefaultMaxAge+dpop.DefaultMaxFuture {
		t.Errorf("marker TTL %s is shorter than the iat window", ttl)
	}
}

func TestProofNonce(t *testing.T) {
	key := newKey(t)
	jkt := sessionclient.JKT(key)
	const token = "the.access.token"
	pc := newChecker(t)
	pc.Nonces = dpop.NewNonces(nil, 0)
	err := pc.Check(context.Background(), proofHeader(sessionclient.ResourceProof(key, "GET", resourceURL, token, nil)), "GET", resourceURL, token, jkt)
	if !errors.Is(err, ErrNonceRequired) {
		t.Fatalf("no nonce: %v", err)
	}
	stale := dpop.NewNonces(nil, 0).Issue() // another secret
	err = pc.Check(context.Background(), proofHeader(sessionclient.ResourceProof(key, "GET", resourceURL, token, func(h, c map[string]any) { c["nonce"] = stale })), "GET", resourceURL, token, jkt)
	if !errors.Is(err, ErrNonceRequired) {
		t.Fatalf("foreign nonce: %v", err)
	}
	nonce := pc.Nonces.Issue()
	err = pc.Check(context.Background(), proofHeader(sessionclient.ResourceProof(key, "GET", resourceURL, token, func(h, c map[string]any) { c["nonce"] = nonce })), "GET", resourceURL, token, jkt)
	if err != nil {
		t.Fatalf("current nonce: %v", err)
	}
}

// failingStore is a store that is down: every write fails.
type failingStore struct{ store.Store }

func (failingStore) Create(context.Context, string, []byte, time.Duration) error {
	return store.ErrUnavailable
}

func TestProofReplayStoreDownFailsClosed(t *testing.T) {
	key := newKey(t)
	const token = "the.access.token"
	pc := &ProofChecker{Verifier: &dpop.Verifier{}, Store: failingStore{}}
	err := pc.Check(context.Background(), proofHeader(sessionclient.ResourceProof(key, "GET", resourceURL, token, nil)), "GET", resourceURL, token, sessionclient.JKT(key))
	if !errors.Is(err, ErrReplayStoreUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func newKeyB() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func newMemoryB(b *testing.B) store.Store {
	mem := store.NewMemory()
	b.Cleanup(func() { _ = mem.Close() })
	return mem
}
