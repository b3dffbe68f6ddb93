package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"slices"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// MinRSABits is the smallest RSA modulus any key may have.
const MinRSABits = 2048

// keyFamily groups algorithms by the kind of public key they need, so a
// header alg can never make a key of another kind verify (alg confusion).
type keyFamily int

const (
	familyNone keyFamily = iota
	familyRSA
	familyEC
	familyEd25519
)

// algorithms is the complete set of algorithms anything is ever verified
// with. none and HS* are absent on purpose: no configuration can add them.
var algorithms = map[string]keyFamily{
	"RS256": familyRSA, "RS384": familyRSA, "RS512": familyRSA,
	"PS256": familyRSA, "PS384": familyRSA, "PS512": familyRSA,
	"ES256": familyEC, "ES384": familyEC, "ES512": familyEC,
	"EdDSA": familyEd25519,
}

// Supported reports whether alg is one of the asymmetric signature
// algorithms the gateway verifies.
func Supported(alg string) bool {
	_, ok := algorithms[alg]
	return ok
}

// CurveAlg is the only algorithm an EC key on curve c verifies (RFC 7518
// §3.4 ties ES256/384/512 to P-256/384/521); "" for other curves.
func CurveAlg(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// familyOf classifies a public key and reports whether it is strong enough
// to be used at all.
func familyOf(pub any) keyFamily {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < MinRSABits {
			return familyNone
		}
		return familyRSA
	case *ecdsa.PublicKey:
		if CurveAlg(k.Curve) == "" {
			return familyNone
		}
		return familyEC
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return familyNone
		}
		return familyEd25519
	}
	return familyNone
}

// Usable reports whether pub is a public key of a type, curve and size the
// gateway verifies anything with.
func Usable(pub any) bool { return familyOf(pub) != familyNone }

// KeyFits reports whether alg may be verified with pub: the key's type,
// and for EC keys its curve, must be the one alg signs with (ES384 with a
// P-256 key is refused), and RSA keys have at least MinRSABits.
func KeyFits(pub any, alg string) bool {
	fam, ok := algorithms[alg]
	if !ok || familyOf(pub) != fam {
		return false
	}
	if ec, ok := pub.(*ecdsa.PublicKey); ok {
		return CurveAlg(ec.Curve) == alg
	}
	return true
}

// privateMembers are JWK members that only private or symmetric keys carry
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// PublicJWK is a JWK read as a public verification key.
type PublicJWK struct {
	Key crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	Alg string           // the alg member, "" when absent
	Kid string
	Use string   // the use member, "" when absent
	Ops []string // the key_ops member, nil when absent
	key jwk.Key
}

// Refusals of a JWK.
var (
	ErrNotJWK     = errors.New("jose: not a JWK object")
	ErrPrivateJWK = errors.New("jose: a private or symmetric key")
	ErrWeakJWK    = errors.New("jose: key type, size or curve not accepted")
	ErrJWKAlg     = errors.New("jose: the key's alg is not an accepted algorithm for this key")
)

// ParsePublicJWK reads one JWK strictly and returns its public key. Keys
// with private or symmetric material, other key types, RSA under
// MinRSABits, other curves, and an alg member that is not an accepted
// algorithm for the key are refused.
func ParsePublicJWK(raw []byte) (*PublicJWK, error) {
	m, err := strictjson.ParseObject(raw)
	if err != nil {
		return nil, ErrNotJWK
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return nil, ErrPrivateJWK
		}
	}
	kty, _, err := String(m, "kty")
	if err != nil || (kty != "EC" && kty != "RSA" && kty != "OKP") {
		return nil, ErrWeakJWK
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, ErrNotJWK
	}
	if private, err := jwk.IsPrivateKey(key); err != nil || private {
		return nil, ErrPrivateJWK
	}
	// Exported into a plain any: jwx gives *rsa.PublicKey, *ecdsa.PublicKey
	// or ed25519.PublicKey there.
	var pub any
	if err := jwk.Export(key, &pub); err != nil || !Usable(pub) {
		return nil, ErrWeakJWK
	}
	out := &PublicJWK{Key: pub, key: key}
	for name, dst := range map[string]*string{"alg": &out.Alg, "kid": &out.Kid, "use": &out.Use} {
		if *dst, _, err = String(m, name); err != nil {
			return nil, ErrNotJWK
		}
	}
	if out.Alg != "" && !KeyFits(out.Key, out.Alg) {
		return nil, ErrJWKAlg
	}
	if v, ok := m["key_ops"]; ok {
		if out.Ops, err = strictjson.StringArray(v.Raw); err != nil {
			return nil, ErrNotJWK
		}
	}
	return out, nil
}

// Allows reports whether a token's alg may be verified with k: a declared
// alg must be equal; otherwise the key's type and curve decide.
func (k *PublicJWK) Allows(alg string) bool {
	if k.Alg != "" && k.Alg != alg {
		return false
	}
	return KeyFits(k.Key, alg)
}

// CanVerify reports whether the key's use and key_ops allow verification.
func (k *PublicJWK) CanVerify() bool {
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	return k.Ops == nil || slices.Contains(k.Ops, "verify")
}

// Thumbprint is the key's RFC 7638 SHA-256 thumbprint, base64url.
func (k *PublicJWK) Thumbprint() (string, error) {
	sum, err := k.key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
