package dpop

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestKeyCacheServesParsedKeysOnly(t *testing.T) {
	key := newP256(t)
	raw := json.RawMessage(mustJSON(t, ecJWK(&key.PublicKey)))
	first, err := cachedPublicKey(raw, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	again, err := cachedPublicKey(raw, "ES256")
	if err != nil || again != first {
		t.Fatalf("second lookup: %v, same entry %v", err, again == first)
	}
	// The same bytes under another alg are checked again, not served.
	if _, err := cachedPublicKey(raw, "ES384"); err == nil {
		t.Fatal("a P-256 key was accepted for ES384 from the cache")
	}
	// A refused key is never remembered.
	withD := map[string]any{}
	for k, v := range ecJWK(&key.PublicKey) {
		withD[k] = v
	}
	withD["d"] = "AAAA"
	bad := json.RawMessage(mustJSON(t, withD))
	for i := 0; i < 2; i++ {
		if _, err := cachedPublicKey(bad, "ES256"); err == nil {
			t.Fatal("a jwk with a private part was accepted")
		}
	}
	// Bounded: filling it past the limit never grows it beyond.
	for i := 0; i < keyCacheSize+10; i++ {
		k := newP256(t)
		if _, err := cachedPublicKey(json.RawMessage(mustJSON(t, ecJWK(&k.PublicKey))), "ES256"); err != nil {
			t.Fatal(fmt.Errorf("key %d: %w", i, err))
		}
	}
	keyCache.RLock()
	n := len(keyCache.m)
	keyCache.RUnlock()
	if n > keyCacheSize {
		t.Fatalf("cache holds %d keys, limit %d", n, keyCacheSize)
	}
}
