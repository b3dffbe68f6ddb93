package dpop

import (
	"net/http"
	"strings"
)

// MaxProofSize is the largest proof accepted, checked before any parsing.
const MaxProofSize = 8 << 10

// HeaderName is the request header that carries the proof.
const HeaderName = "DPoP"

// FromHeader returns the single DPoP proof of a request. It returns
// ErrMissingProof when there is none or it is empty, and ErrInvalidProof when
// the header appears more than once (RFC 9449 §4.3 allows exactly one).
func FromHeader(h http.Header) (string, error) {
	values := h.Values(HeaderName)
	switch len(values) {
	case 0:
		return "", ErrMissingProof
	case 1:
	default:
		return "", invalid("more than one DPoP header")
	}
	proof := strings.TrimSpace(values[0])
	if proof == "" {
		return "", ErrMissingProof
	}
	if strings.Contains(proof, ",") {
		// Header lines folded into one value by a proxy: still two proofs.
		return "", invalid("more than one DPoP header")
	}
	return proof, nil
}
