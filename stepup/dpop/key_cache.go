package dpop

import "sync"

// keyCacheSize bounds the parsed-key cache. A client keeps one DPoP key for
// its whole session, so the same jwk arrives with each of its proofs;
// parsing it (jwx) costs more than checking the signature.
const keyCacheSize = 4096

var keyCache = struct {
	sync.RWMutex
	m map[string]*publicKey
}{m: make(map[string]*publicKey)}

// cachedPublicKey is parsePublicKey with a bounded memo keyed by alg and the
// jwk's exact bytes: parsing is a pure function of both. Only keys that
// parsed are kept, so malformed keys can't fill it; when full it is
// emptied, which an attacker sending many valid keys can only make as slow
// as no cache.
func cachedPublicKey(rawJWK []byte, alg string) (*publicKey, error) {
	id := alg + "\x00" + string(rawJWK)
	keyCache.RLock()
	k, ok := keyCache.m[id]
	keyCache.RUnlock()
	if ok {
		return k, nil
	}
	k, err := parsePublicKey(rawJWK, alg)
	if err != nil {
		return nil, err
	}
	keyCache.Lock()
	if len(keyCache.m) >= keyCacheSize {
		clear(keyCache.m)
	}
	keyCache.m[id] = k
	keyCache.Unlock()
	return k, nil
}
