package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// minRSABits is the smallest RSA modulus accepted, as for JWKS keys.
const minRSABits = 2048

// supportedAlgorithms are the only algorithms that can ever verify a proof:
// asymmetric, with a key type check below. Anything else in
// Verifier.Algorithms (none, HS256, ...) is ignored.
var supportedAlgorithms = map[string]bool{
	"ES256": true, "ES384": true, "ES512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"EdDSA": true,
}

// privateMembers are JWK members that only private or symmetric keys carry
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicKey is the proof's embedded key, parsed and checked against alg.
type publicKey struct {
	raw        any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	thumbprint string // RFC 7638, SHA-256, base64url
}

// parsePublicKey parses the header's jwk member and checks that it is a
// public key of the type and size alg requires.
func parsePublicKey(rawJWK json.RawMessage, alg string) (*publicKey, error) {
	members, err := parseObject(rawJWK)
	if err != nil {
		return nil, invalid("jwk is not an object")
	}
	for _, name := range privateMembers {
		if members.has(name) {
			return nil, invalid("jwk is not a public key")
		}
	}
	kty, _, err := members.str("kty")
	if err != nil || (kty != "EC" && kty != "RSA" && kty != "OKP") {
		return nil, invalid("jwk kty not allowed")
	}
	key, err := jwk.ParseKey(rawJWK)
	if err != nil {
		return nil, invalid("jwk does not parse")
	}
	if private, err := jwk.IsPrivateKey(key); err != nil || private {
		return nil, invalid("jwk is not a public key")
	}
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, invalid("jwk does not parse")
	}
	if !keyFitsAlgorithm(raw, alg) {
		return nil, invalid("jwk does not match alg")
	}
	sum, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid("jwk thumbprint")
	}
	return &publicKey{raw: raw, thumbprint: base64.RawURLEncoding.EncodeToString(sum)}, nil
}

// keyFitsAlgorithm reports whether raw is the exact key type (and curve, and
// size) that alg signs with: ES384 with a P-256 key is refused.
func keyFitsAlgorithm(raw any, alg string) bool {
	switch alg {
	case "ES256", "ES384", "ES512":
		k, ok := raw.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		return k.Curve == want
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k, ok := raw.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= minRSABits
	case "EdDSA":
		k, ok := raw.(ed25519.PublicKey)
		return ok && len(k) == ed25519.PublicKeySize
	}
	return false
}
