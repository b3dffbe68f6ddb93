package store

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidTTL is returned, and nothing is written, when a write is given a
// zero or negative TTL: every key must expire, so this is a programming
// error rather than a backend failure.
var ErrInvalidTTL = errors.New("store: ttl must be positive")

// checkTTL rejects TTLs that would store a key forever or not at all.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w (got %v)", ErrInvalidTTL, ttl)
	}
	return nil
}

// unavailable wraps a backend failure so that callers see ErrUnavailable
// (and fail closed) while logs keep the cause. The cause must already be
// free of secrets.
func unavailable(cause error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}
