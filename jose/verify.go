package jose

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"math/big"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// ErrSignature: the signature does not verify, or the key does not fit
// the algorithm.
var ErrSignature = errors.New("jose: bad signature")

// Verify checks sig over input with pub under alg. The key must fit the
// algorithm (KeyFits). ECDSA signatures must be exactly twice the curve
// size (RFC 7518 §3.4) and are checked with crypto/ecdsa directly, which
// range-checks r and s; RSA and EdDSA go through jwx's jwsbb.
func Verify(pub any, alg string, input, sig []byte) error {
	if !KeyFits(pub, alg) {
		return ErrSignature
	}
	if ec, ok := pub.(*ecdsa.PublicKey); ok {
		size := (ec.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return ErrSignature
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(ec, ecDigest(alg, input), r, s) {
			return ErrSignature
		}
		return nil
	}
	if err := jwsbb.Verify(pub, alg, input, sig); err != nil {
		return ErrSignature
	}
	return nil
}

func ecDigest(alg string, input []byte) []byte {
	switch alg {
	case "ES384":
		sum := sha512.Sum384(input)
		return sum[:]
	case "ES512":
		sum := sha512.Sum512(input)
		return sum[:]
	}
	sum := sha256.Sum256(input)
	return sum[:]
}
