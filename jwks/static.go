package jwks

import "context"

// Static is a fixed key set, for keys known at configuration time (the
// gateway's own key, a JWKS file).
type Static struct {
	set *keySet
}

// NewStatic parses a JWK Set document with the same filtering as Remote
// (private, oct, weak and non-"sig" keys are dropped). It fails when the
// document is malformed or holds no usable key.
func NewStatic(jwksJSON []byte) (*Static, error) {
	set, _, err := parseJWKS(jwksJSON)
	if err != nil {
		return nil, err
	}
	return &Static{set: set}, nil
}

// newStaticKeys builds a Static from keys already vetted by the caller.
func newStaticKeys(keys ...*VerificationKey) *Static {
	return &Static{set: newKeySet(keys)}
}

// LookupKey implements KeySource.
func (s *Static) LookupKey(_ context.Context, kid string) (*VerificationKey, error) {
	if k, ok := s.set.lookup(kid); ok {
		return k, nil
	}
	return nil, ErrInvalidToken
}

var _ KeySource = (*Static)(nil)
