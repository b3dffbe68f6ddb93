package jwks

import "errors"

// Sentinel errors. Details are wrapped with %w for debug logs; they never
// contain token bytes or key material.
var (
	// ErrInvalidToken reports every problem with a presented token:
	// malformed, oversize, bad signature, unknown kid, algorithm not
	// allowed, expired, not yet valid, iss/aud/typ mismatch, crit present,
	// exp missing or zero. Callers answer all of them the same way.
	ErrInvalidToken = errors.New("jwks: invalid token")

	// ErrUnavailable reports that the key source could not provide keys
	// (never fetched successfully, and the fetch keeps failing). Callers
	// answer 503 rather than treating the token as invalid.
	ErrUnavailable = errors.New("jwks: keys unavailable")

	// ErrExpired is also matched (errors.Is) by tokens refused only
	// because exp has passed, for callers that must say "expired" (a
	// step-up challenge). Such errors still match ErrInvalidToken. Times
	// are checked before the signature, so a forged expired token matches
	// too: use it to choose a message, never to trust a token.
	ErrExpired = errors.New("jwks: token expired")
)
