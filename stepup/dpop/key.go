package dpop

import (
	"github.com/caddy-stepup/caddy-stepup/jose"
)

// publicKey is the proof's embedded key, parsed and checked against alg.
type publicKey struct {
	raw        any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	thumbprint string // RFC 7638, SHA-256, base64url
}

// parsePublicKey parses the header's jwk member (jose.ParsePublicJWK: a
// public EC, RSA or OKP key, strong enough) and checks that it is the key
// type, curve and size alg signs with.
func parsePublicKey(rawJWK []byte, alg string) (*publicKey, error) {
	k, err := jose.ParsePublicJWK(rawJWK)
	if err != nil {
		return nil, invalid("jwk: " + err.Error())
	}
	if !k.Allows(alg) {
		return nil, invalid("jwk does not match alg")
	}
	tp, err := k.Thumbprint()
	if err != nil {
		return nil, invalid("jwk thumbprint")
	}
	return &publicKey{raw: k.Key, thumbprint: tp}, nil
}
