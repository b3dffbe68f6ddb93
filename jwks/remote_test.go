package jwks

import (
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer is an httptest JWKS endpoint whose answer can be changed and
// whose hits are counted.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int32
	mu     sync.Mutex
	status int
	body   []byte
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func newTestRemote(url string, clock *fakeClock) *Remote {
	r := NewRemote(RemoteOptions{URL: url, MaxBytes: 64 << 10})
	if clock != nil {
		r.now = clock.Now
	}
	return r
}

func TestRemoteKeepsLastGoodSetOnBadFetches(t *testing.T) {
	key := mustECKey(t, elliptic.P256())
	good := jwksJSON(t, jwkJSON(t, &key.PublicKey, map[string]any{"kid": "k1"}))
	tests := []struct {
		name   string
		status int
		body   []byte
	}{
		{"500", http.StatusInternalServerError, good},
		{"404", http.StatusNotFound, nil},
		{"garbage", http.StatusOK, []byte("<html>not json</html>")},
		{"no keys member", http.StatusOK, []byte(`{"KEYS":[]}`)},
		{"empty set", http.StatusOK, []byte(`{"keys":[]}`)},
		{"only unusable keys", http.StatusOK, jwksJSON(t, jwkJSON(t, []byte("0123456789abcdef0123456789abcdef"), map[string]any{"kid": "k1"}))},
		{"oversize body", http.StatusOK, []byte(`{"keys":[],"pad":"` + strings.Repeat("a", 64<<10) + `"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, good)
			r := newTestRemote(srv.URL, nil)
			if err := r.Refresh(context.Background()); err != nil {
				t.Fatalf("first refresh: %v", err)
			}
			srv.serve(tt.status, tt.body)
			if err := r.Refresh(context.Background()); err == nil {
				t.Fatal("refresh of a bad answer reported success")
			}
			k, err := r.LookupKey(context.Background(), "k1")
			if err != nil || k.KeyID != "k1" {
				t.Fatalf("LookupKey after bad fetch = %v, %v; want the last good key", k, err)
			}
		})
	}
}

func TestRemoteDropsUnfitKeys(t *testing.T) {
	ec := mustECKey(t, elliptic.P256())
	ec384 := mustECKey(t, elliptic.P384())
	rsaGood := mustRSAKey(t, 2048)
	rsaWeak := mustRSAKey(t, 1024)
	body := jwksJSON(t,
		jwkJSON(t, ec, map[string]any{"kid": "private-ec"}),
		jwkJSON(t, rsaGood, map[string]any{"kid": "private-rsa"}),
		jwkJSON(t, []byte("0123456789abcdef0123456789abcdef"), map[string]any{"kid": "oct"}),
		// Built by hand: jwx itself refuses to import an RSA-1024 key.
		[]byte(`{"kty":"RSA","kid":"rsa-1024","e":"AQAB","n":"`+base64.RawURLEncoding.EncodeToString(rsaWeak.N.Bytes())+`"}`),
		jwkJSON(t, &ec.PublicKey, map[string]any{"kid": "use-enc", "use": "enc"}),
		jwkJSON(t, &ec.PublicKey, map[string]any{"kid": "ops-encrypt", "key_ops": []string{"encrypt"}}),
		jwkJSON(t, &ec.PublicKey, map[string]any{"kid": "alg-hs256", "alg": "HS256"}),
		jwkJSON(t, &ec.PublicKey, map[string]any{"kid": "alg-es384-on-p256", "alg": "ES384"}),
		jwkJSON(t, &ec.PublicKey, map[string]any{"kid": "alg-rs256-on-ec", "alg": "RS256"}),
		[]byte(`{"kty":"EC","crv":"P-256","kid":"bad-point","x":"AAAA","y":"AAAA"}`),
		[]byte(`"not an object"`),
		jwkJSON(t, &ec.PublicKey, map[string]any{"kid": "ec-ok", "use": "sig"}),
		jwkJSON(t, &ec384.PublicKey, map[string]any{"kid": "ec384-ok", "alg": "ES384"}),
		jwkJSON(t, &rsaGood.PublicKey, map[string]any{"kid": "rsa-ok", "key_ops": []string{"verify"}}),
	)
	srv := newJWKSServer(t, body)
	r := newTestRemote(srv.URL, newFakeClock(testNow))
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"ec-ok", "ec384-ok", "rsa-ok"} {
		if _, err := r.LookupKey(context.Background(), kid); err != nil {
			t.Errorf("usable key %q: %v", kid, err)
		}
	}
	for _, kid := range []string{"private-ec", "private-rsa", "oct", "rsa-1024", "use-enc", "ops-encrypt", "alg-hs256", "alg-es384-on-p256", "alg-rs256-on-ec", "bad-point"} {
		if k, err := r.LookupKey(context.Background(), kid); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("unfit key %q kept: %v, %v", kid, k, err)
		}
	}
}

func TestRemoteRefetchesOnRotation(t *testing.T) {
	old := mustECKey(t, elliptic.P256())
	rotated := mustECKey(t, elliptic.P256())
	srv := newJWKSServer(t, jwksJSON(t, jwkJSON(t, &old.PublicKey, map[string]any{"kid": "old"})))
	r := newTestRemote(srv.URL, newFakeClock(testNow))
	v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: r}}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.serve(http.StatusOK, jwksJSON(t,
		jwkJSON(t, &old.PublicKey, map[string]any{"kid": "old"}),
		jwkJSON(t, &rotated.PublicKey, map[string]any{"kid": "new"})))

	tok := forge(t, "ES256", rotated, map[string]any{"alg": "ES256", "kid": "new"}, gwClaims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token with the rotated-in kid: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("server hits = %d, want 2 (initial + one refetch)", got)
	}
	// The old key keeps working without another fetch.
	tok = forge(t, "ES256", old, map[string]any{"alg": "ES256", "kid": "old"}, gwClaims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token with the old kid: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("server hits = %d, want 2", got)
	}
}

func TestRemoteUnknownKidFloodFetchesOncePerCooldown(t *testing.T) {
	key := mustECKey(t, elliptic.P256())
	srv := newJWKSServer(t, jwksJSON(t, jwkJSON(t, &key.PublicKey, map[string]any{"kid": "k1"})))
	clock := newFakeClock(testNow)
	r := newTestRemote(srv.URL, clock)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	flood := func(round int) {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				_, err := r.LookupKey(context.Background(), fmt.Sprintf("random-%d-%d", round, i))
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("unknown kid: err = %v, want ErrInvalidToken", err)
				}
			})
		}
		wg.Wait()
	}
	flood(1)
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits after first flood = %d, want 2 (initial + one refetch)", got)
	}
	clock.Advance(DefaultUnknownKeyCooldown / 2)
	flood(2)
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits within the cooldown = %d, want still 2", got)
	}
	clock.Advance(DefaultUnknownKeyCooldown)
	flood(3)
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("hits after the cooldown = %d, want 3", got)
	}
	if _, err := r.LookupKey(context.Background(), "k1"); err != nil {
		t.Fatalf("known kid after flood: %v", err)
	}
}

func TestRemoteUnavailableWithoutKeys(t *testing.T) {
	srv := newJWKSServer(t, nil)
	srv.serve(http.StatusServiceUnavailable, nil)
	clock := newFakeClock(testNow)
	r := newTestRemote(srv.URL, clock)
	v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: r}}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	key := mustECKey(t, elliptic.P256())
	tok := forge(t, "ES256", key, map[string]any{"alg": "ES256", "kid": "k1"}, gwClaims())
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify with no keys = %v, want ErrUnavailable", err)
	}
	// A garbage token is still invalid, not unavailable: it is refused
	// before the key source is asked.
	if _, err := v.Verify(context.Background(), "a.b.c"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("garbage with no keys = %v, want ErrInvalidToken", err)
	}
	// Once the endpoint recovers and the cooldown has passed, keys load on
	// demand.
	srv.serve(http.StatusOK, jwksJSON(t, jwkJSON(t, &key.PublicKey, map[string]any{"kid": "k1"})))
	clock.Advance(DefaultUnknownKeyCooldown)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
}

func TestRemoteStartLoadsInBackground(t *testing.T) {
	key := mustECKey(t, elliptic.P256())
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		<-release
		_, _ = w.Write(jwksJSON(t, jwkJSON(t, &key.PublicKey, map[string]any{"kid": "k1"})))
	}))
	defer srv.Close()
	r := NewRemote(RemoteOptions{URL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx) // must return while the server is still blocked
	if r.keys.Load() != nil {
		t.Fatal("keys present before the fetch completed")
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for r.keys.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("background fetch never completed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := r.keys.Load().lookup("k1"); !err {
		t.Fatal("k1 missing after background fetch")
	}
	r.Close()
	r.Close() // idempotent
	if hits.Load() < 1 {
		t.Fatal("server never hit")
	}
}

// TestRemoteBootstrapSpendsNoCooldown: requests that arrive before the
// first fetch trigger one themselves; that fetch does not keep the next
// unknown kid (a rotation right after start) from its own refetch. While
// there is no set, such fetches are spaced by a second.
func TestRemoteBootstrapSpendsNoCooldown(t *testing.T) {
	old := mustECKey(t, elliptic.P256())
	rotated := mustECKey(t, elliptic.P256())
	srv := newJWKSServer(t, nil)
	srv.serve(http.StatusServiceUnavailable, nil)
	clock := newFakeClock(testNow)
	r := newTestRemote(srv.URL, clock)
	for range 5 {
		if _, err := r.LookupKey(context.Background(), "old"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("no set, provider down: %v", err)
		}
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("%d fetches within a second without a set, want 1", got)
	}
	clock.Advance(time.Second)
	srv.serve(http.StatusOK, jwksJSON(t, jwkJSON(t, &old.PublicKey, map[string]any{"kid": "old"})))
	if _, err := r.LookupKey(context.Background(), "old"); err != nil {
		t.Fatalf("the first set, fetched by a request: %v", err)
	}
	srv.serve(http.StatusOK, jwksJSON(t, jwkJSON(t, &old.PublicKey, map[string]any{"kid": "old"}),
		jwkJSON(t, &rotated.PublicKey, map[string]any{"kid": "new"})))
	if _, err := r.LookupKey(context.Background(), "new"); err != nil {
		t.Fatalf("a rotated key right after the first fetch: %v", err)
	}
	if _, err := r.LookupKey(context.Background(), "newer"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another unknown kid within the cooldown: %v", err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Errorf("%d fetches, want 3 (down, first set, rotation)", got)
	}
}
