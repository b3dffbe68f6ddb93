// Package store keeps the gateway's shared state: login flows, OTP codes,
// sessions, challenges, grants and replay markers. Every key carries a TTL.
//
// Two implementations satisfy Store: Memory (one process) and Redis
// (standalone, Sentinel or Cluster, shared by many gateway instances). Both
// pass the same conformance suite. Callers build keys with hash tags
// ("{ses_…}") when several keys belong to one entity, so that they live in one
// Redis Cluster slot.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store. Backend failures are always wrapped in
// ErrUnavailable and are never reported as ErrNotFound: the gateway fails
// closed on them.
var (
	// ErrNotFound: the key does not exist (never existed or expired).
	ErrNotFound = errors.New("store: not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("store: key exists")
	// ErrConflict: Swap found a value other than the expected one.
	ErrConflict = errors.New("store: value changed")
	// ErrUnavailable: the backend could not answer (down, slow, read-only,
	// out of memory). Wrapped with the backend's error for logs.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrFull: a bounded store holds as many keys as it may; always wrapped
	// in ErrUnavailable (nothing is evicted to make room).
	ErrFull = errors.New("store: full")
)

// Store is the small set of atomic operations the engine is built on. Keys
// are given without the configured prefix; implementations add it. Every
// write takes a TTL, which must be positive: a zero or negative TTL returns
// ErrInvalidTTL and writes nothing. An operation on a key holding the other
// kind of value (a set where a string is expected, or the reverse) fails
// with ErrUnavailable, like any backend error.
type Store interface {
	// Get returns the value stored under key.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key, replacing any previous value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Create stores value only if key is absent; otherwise ErrExists.
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Swap replaces the value only if the current value equals old byte for
	// byte (compare-and-swap); ErrNotFound if absent, ErrConflict if changed.
	// The TTL is reset to ttl.
	Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) error
	// Take returns the value and deletes the key in one atomic step; of many
	// concurrent Takes on one key, exactly one gets the value.
	Take(ctx context.Context, key string) ([]byte, error)
	// Incr adds one to the counter at key and returns the new value. A new
	// counter starts at 1 and expires after ttl; incrementing never extends
	// the expiry.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Decr takes one back from the counter at key (an Incr whose request
	// failed, returned); a counter at zero or absent stays as it is. The
	// expiry is unchanged.
	Decr(ctx context.Context, key string) error
	// Delete removes the keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// AddMember adds member to the set at key and makes the set live at
	// least ttl from now (an existing longer expiry is kept).
	AddMember(ctx context.Context, key, member string, ttl time.Duration) error
	// RemoveMember removes member from the set at key.
	RemoveMember(ctx context.Context, key, member string) error
	// Members lists the set at key, sorted (empty, not nil, when absent).
	Members(ctx context.Context, key string) ([]string, error)
	// Ping checks that the backend answers (used at start-up).
	Ping(ctx context.Context) error
}

// Clock is implemented by stores shared by several instances whose clock
// should decide every expiry (Redis: the clock its TTLs run by).
type Clock interface {
	Now() time.Time
}

// ClockOf returns the clock s provides, or the local clock.
func ClockOf(s Store) func() time.Time {
	if c, ok := s.(Clock); ok {
		return c.Now
	}
	return time.Now
}
