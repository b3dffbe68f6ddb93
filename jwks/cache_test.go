package jwks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCacheServesSameClaimsUntilExp(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(testNow)
	v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: s.KeySource()}}, Now: clock.Now, CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign("", gwClaims("exp", testNow.Add(time.Minute).Unix()))
	if err != nil {
		t.Fatal(err)
	}
	first, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("second Verify did not return the cached claims")
	}
	key := sha256.Sum256([]byte(tok))
	if _, ok := v.cache.get(&key, clock.Now()); !ok {
		t.Fatal("token not cached under its SHA-256")
	}

	// Past exp but within the leeway: the cached entry is not served (it
	// never outlives exp); full verification still accepts, without caching.
	clock.Advance(time.Minute + 10*time.Second)
	if _, ok := v.cache.get(&key, clock.Now()); ok {
		t.Fatal("cache served an entry past the token's exp")
	}
	third, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	if third == first {
		t.Error("expired cache entry was served")
	}
	if v.cache.len() != 0 {
		t.Errorf("cache holds %d entries past exp, want 0", v.cache.len())
	}
	// Beyond the leeway the token is refused.
	clock.Advance(time.Minute)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestCacheNeverStoresFailures(t *testing.T) {
	f := newFixture(t, 64)
	bad := []string{
		"a.b.c",
		forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("aud", "other")),
		forge(t, "ES256", mustECKey(t, f.gw.priv.Curve), f.gwHeader(), gwClaims()),
	}
	for _, tok := range bad {
		for range 3 {
			if _, err := f.verifier.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v", err)
			}
		}
	}
	if n := f.verifier.cache.len(); n != 0 {
		t.Fatalf("cache holds %d entries after failures, want 0", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	const size = 20
	v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: s.KeySource()}}, Now: func() time.Time { return testNow }, CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			tok, err := s.Sign("", gwClaims("jti", fmt.Sprint(i)))
			if err != nil {
				t.Error(err)
				return
			}
			c, err := v.Verify(context.Background(), tok)
			if err != nil || c.ID != fmt.Sprint(i) {
				t.Errorf("Verify %d = %+v, %v", i, c, err)
			}
		})
	}
	wg.Wait()
	if n := v.cache.len(); n == 0 || n > size {
		t.Fatalf("cache holds %d entries, want 1..%d", n, size)
	}
}

func TestTokenCacheEvictionKeepsIndexConsistent(t *testing.T) {
	c := newTokenCache(3)
	exp := testNow.Add(time.Hour)
	keys := make([][32]byte, 10)
	for i := range keys {
		keys[i] = sha256.Sum256([]byte{byte(i)})
		c.put(&keys[i], &Claims{ID: fmt.Sprint(i)}, exp)
		for si := range c.shards {
			sh := &c.shards[si]
			if len(sh.order) != len(sh.entries) || len(sh.order) > sh.max {
				t.Fatalf("shard %d: %d ordered, %d mapped, max %d", si, len(sh.order), len(sh.entries), sh.max)
			}
			for idx, e := range sh.order {
				if e.index != idx || sh.entries[e.key] != e {
					t.Fatalf("shard %d: entry at %d has index %d", si, idx, e.index)
				}
			}
		}
	}
	if n := c.len(); n != 3 {
		t.Fatalf("len = %d, want 3", n)
	}
	// The last key put is always present (eviction happens before insert).
	if got, ok := c.get(&keys[9], testNow); !ok || got.ID != "9" {
		t.Fatalf("latest entry missing: %v %v", got, ok)
	}
}

func TestTokenHashIsSHA256(t *testing.T) {
	for _, in := range []string{"", "a", string(make([]byte, 511)), string(make([]byte, 512)), string(make([]byte, MaxTokenBytes))} {
		if got, want := TokenHash(in), sha256.Sum256([]byte(in)); got != want {
			t.Fatalf("TokenHash(len %d) differs from sha256", len(in))
		}
	}
}

// TestAdmitCachesWhatItsOwnChecksAccept: a token the process signed is
// admitted with every check but the signature's, and Verify then serves
// it from the cache; a token another issuer's policy, the audience, the
// times or an unknown kid refuse is not admitted; without a cache Admit
// does nothing.
func TestAdmitCachesWhatItsOwnChecksAccept(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(testNow)
	v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Audiences: []string{audience1}, Keys: s.KeySource()}},
		Now: clock.Now, CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := s.Sign("", gwClaims("exp", testNow.Add(time.Minute).Unix()))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Admit(ctx, tok); err != nil {
		t.Fatal(err)
	}
	key := sha256.Sum256([]byte(tok))
	admitted, ok := v.cache.get(&key, clock.Now())
	if !ok {
		t.Fatal("the admitted token is not cached")
	}
	if got, err := v.Verify(ctx, tok); err != nil || got != admitted {
		t.Fatalf("Verify after Admit: %v, served from the cache: %v", err, got == admitted)
	}
	refused := map[string]string{}
	for name, claims := range map[string]map[string]any{
		"expired":        gwClaims("exp", testNow.Add(-time.Hour).Unix()),
		"other audience": gwClaims("aud", "other", "exp", testNow.Add(time.Minute).Unix()),
		"other issuer":   gwClaims("iss", "https://elsewhere.test", "exp", testNow.Add(time.Minute).Unix()),
	} {
		if refused[name], err = s.Sign("", claims); err != nil {
			t.Fatal(err)
		}
	}
	if refused["unknown key"], err = other.Sign("", gwClaims("exp", testNow.Add(time.Minute).Unix())); err != nil {
		t.Fatal(err)
	}
	for name, bad := range refused {
		if err := v.Admit(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Admit = %v, want ErrInvalidToken", name, err)
		}
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries, want the admitted one", n)
	}
	uncached, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: s.KeySource()}}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := uncached.Admit(ctx, tok); err != nil {
		t.Fatal(err)
	}
}
