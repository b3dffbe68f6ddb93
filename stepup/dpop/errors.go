package dpop

import "errors"

// Sentinel errors returned by this package. Errors may wrap them with a short
// fixed reason for debug logs; the reason never contains proof contents.
var (
	// ErrMissingProof means the request carries no DPoP proof (no header, or
	// an empty one).
	ErrMissingProof = errors.New("dpop: missing proof")
	// ErrInvalidProof means the proof is unusable for any reason: format,
	// size, header, key, signature or claims. Callers answer every one of
	// these the same way so that no reason leaks to the client.
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrNonceRequired means the proof is otherwise valid but its nonce is
	// missing or no longer valid: the caller answers "use_dpop_nonce" with a
	// fresh nonce in the DPoP-Nonce header.
	ErrNonceRequired = errors.New("dpop: nonce required")
)

// invalid wraps ErrInvalidProof with a fixed reason.
func invalid(reason string) error {
	return &reasonError{reason: reason, err: ErrInvalidProof}
}

type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() + ": " + e.reason }
func (e *reasonError) Unwrap() error { return e.err }
