package jwks

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddy-stepup/caddy-stepup/jose"
)

// VerificationKey is one public key usable for token verification.
type VerificationKey struct {
	// KeyID is the JWK "kid", "" when the key had none.
	KeyID string
	// Algorithm is the JWK "alg" when the key declared one, "" otherwise
	// (the algorithm is then inferred from the key type and curve).
	Algorithm string
	// Public is *rsa.PublicKey (≥ 2048 bits), *ecdsa.PublicKey (P-256,
	// P-384, P-521) or ed25519.PublicKey.
	Public crypto.PublicKey
}

// allows reports whether a token header alg may be verified with k: a
// declared alg must be equal; otherwise the key's type and curve decide
// (RSA keys carry no algorithm of their own; the issuer's allow-list
// narrows it).
func (k *VerificationKey) allows(alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	return jose.KeyFits(k.Public, alg)
}

// KeySource gives verification keys by kid. Implementations are safe for
// concurrent use.
type KeySource interface {
	// LookupKey returns the key whose kid equals kid. kid is only ever
	// compared for equality, never used as a path or name. kid "" (a token
	// without kid) finds a key only when the source holds exactly one.
	// It returns ErrInvalidToken when no key matches and ErrUnavailable
	// when the source has no keys at all because it cannot load them.
	LookupKey(ctx context.Context, kid string) (*VerificationKey, error)
}

// keySet is an immutable set of usable keys; sources swap whole sets.
type keySet struct {
	byKID map[string]*VerificationKey
	all   []*VerificationKey
}

func newKeySet(keys []*VerificationKey) *keySet {
	s := &keySet{byKID: make(map[string]*VerificationKey, len(keys))}
	for _, k := range keys {
		if k.KeyID != "" {
			if _, dup := s.byKID[k.KeyID]; dup {
				// Two keys under one kid are ambiguous; the first wins
				// and the other can never be selected.
				continue
			}
			s.byKID[k.KeyID] = k
		}
		s.all = append(s.all, k)
	}
	return s
}

// lookup finds the key for kid; see KeySource.LookupKey for kid "".
func (s *keySet) lookup(kid string) (*VerificationKey, bool) {
	if s == nil {
		return nil, false
	}
	if kid == "" {
		if len(s.all) == 1 {
			return s.all[0], true
		}
		return nil, false
	}
	k, ok := s.byKID[kid]
	return k, ok
}

// errNoUsableKeys: a JWKS parsed but none of its keys survived filtering.
// Treated like garbage so the last good set is kept.
var errNoUsableKeys = errors.New("jwks: no usable keys in set")

// parseJWKS parses a JWK Set document and keeps only keys fit for
// verification (see parseJWK). It fails when the document is malformed or
// no key is usable; dropped reports how many keys were discarded.
func parseJWKS(body []byte) (set *keySet, dropped int, err error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("jwks: malformed key set: %w", err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(doc["keys"], &raws); err != nil || raws == nil {
		return nil, 0, errors.New(`jwks: key set has no "keys" array`)
	}
	keys := make([]*VerificationKey, 0, len(raws))
	for _, raw := range raws {
		k, err := parseJWK(raw)
		if err != nil {
			dropped++
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, dropped, errNoUsableKeys
	}
	return newKeySet(keys), dropped, nil
}

// parseJWK turns one JWK into a VerificationKey (jose.ParsePublicJWK:
// private, symmetric, weak and unknown keys refused), also refusing keys
// whose use is not "sig" and whose key_ops exclude "verify".
func parseJWK(raw json.RawMessage) (*VerificationKey, error) {
	k, err := jose.ParsePublicJWK(raw)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if !k.CanVerify() {
		return nil, errors.New(`jwks: key use is not "sig" or key_ops lacks "verify"`)
	}
	return &VerificationKey{KeyID: k.Kid, Algorithm: k.Alg, Public: k.Key}, nil
}
