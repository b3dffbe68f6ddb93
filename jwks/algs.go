package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
)

// minRSABits is the smallest RSA modulus accepted for verification.
const minRSABits = 2048

// keyFamily groups algorithms by the kind of public key they need, so a
// header alg can never make a key of another kind verify (alg confusion).
type keyFamily int

const (
	familyNone keyFamily = iota
	familyRSA
	familyEC
	familyEd25519
)

// asymmetricAlgs is the complete set of algorithms the package will ever
// verify. none and HS* are absent on purpose: they can never be enabled.
var asymmetricAlgs = map[string]keyFamily{
	"RS256": familyRSA, "RS384": familyRSA, "RS512": familyRSA,
	"PS256": familyRSA, "PS384": familyRSA, "PS512": familyRSA,
	"ES256": familyEC, "ES384": familyEC, "ES512": familyEC,
	"EdDSA": familyEd25519,
}

// ecAlgForCurve is the only algorithm an EC key on a given curve verifies
// (RFC 7518 §3.4 ties ES256/384/512 to P-256/384/521).
func ecAlgForCurve(c elliptic.Curve) string {
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
		if k.N == nil || k.N.BitLen() < minRSABits {
			return familyNone
		}
		return familyRSA
	case *ecdsa.PublicKey:
		if ecAlgForCurve(k.Curve) == "" {
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

// keyAllowsAlg reports whether alg may be verified with pub given the key's
// declared alg ("" when the JWK had no alg member). A declared alg must be
// equal; otherwise the alg is inferred from the key: the curve for EC keys,
// Ed25519 for OKP, and any RSA algorithm for RSA keys (RSA keys carry no
// algorithm of their own; the issuer's allow-list narrows it).
func keyAllowsAlg(pub any, declared, alg string) bool {
	fam, ok := asymmetricAlgs[alg]
	if !ok || fam == familyNone || familyOf(pub) != fam {
		return false
	}
	if declared != "" {
		return declared == alg
	}
	if ec, ok := pub.(*ecdsa.PublicKey); ok {
		return ecAlgForCurve(ec.Curve) == alg
	}
	return true
}
