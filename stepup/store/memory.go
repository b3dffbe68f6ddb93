package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Expired keys are dropped when touched, and by sampling on writes (as
// Redis's active expiry does): each write looks at sampleSize keys and
// drops the expired ones, again while more than a quarter of a sample was
// expired, at most sampleRounds times. The work per write is bounded
// whatever the number of keys.
const (
	sampleSize   = 20
	sampleRounds = 4
	// fullSample is how many keys a write into a full store looks at
	// before it gives up.
	fullSample = 256
)

// DefaultMaxKeys bounds a Memory store by default: about 300 MiB of the
// gateway's records.
const DefaultMaxKeys = 1_000_000

// nearlyFull is the share of MaxKeys past which NearlyFull is true.
const nearlyFull = 0.9

// errWrongKind mirrors Redis's WRONGTYPE: a string operation on a set or the
// reverse. Callers never do this on purpose; it fails closed.
var errWrongKind = errors.New("operation against a key holding the wrong kind of value")

// errClosed is the cause reported after Close.
var errClosed = errors.New("memory store closed")

// Memory is a Store held in this process's memory: for a single gateway
// instance and for the quick start. It has no background goroutine: expired
// entries are removed lazily when accessed and by a sweep run inline every
// sweepEvery writes, so a Memory that is dropped without Close leaks
// nothing. Values are copied in and out, so callers may reuse their slices.
// Keys are not prefixed: each Memory is its own namespace.
type Memory struct {
	mu      sync.Mutex
	entries map[string]*memEntry
	maxKeys int
	closed  bool
}

// Bounded is a store with a size bound. NearlyFull reports that new
// unauthenticated flows should be refused, so that the room left goes to
// counters, replay markers, sessions and grants, which are never evicted.
type Bounded interface {
	NearlyFull() bool
}

// memEntry is one key: either a byte string or a set of members.
type memEntry struct {
	value   []byte              // string value (counters are decimal text, as in Redis)
	members map[string]struct{} // non-nil for sets
	expires time.Time
}

// NewMemory returns an empty in-process store of at most DefaultMaxKeys
// keys.
func NewMemory() *Memory {
	return &Memory{entries: make(map[string]*memEntry), maxKeys: DefaultMaxKeys}
}

// SetMaxKeys changes the bound (a config reload may). When the store holds
// maxKeys live keys, writing a new key fails with ErrFull, wrapped in
// ErrUnavailable: callers fail closed rather than evict anything.
func (m *Memory) SetMaxKeys(maxKeys int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maxKeys = maxKeys
}

// NearlyFull reports that the store holds 90% of its bound.
func (m *Memory) NearlyFull() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return float64(len(m.entries)) >= nearlyFull*float64(m.maxKeys)
}

var (
	_ Store   = (*Memory)(nil)
	_ Bounded = (*Memory)(nil)
)

// Close drops every key; later calls return ErrUnavailable. It never fails
// and exists so that Memory and Redis stores are released the same way.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.entries = nil
	return nil
}

// lock takes the mutex after checking ctx and the closed flag; on success
// the caller must unlock.
func (m *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return unavailable(errClosed)
	}
	return nil
}

// live returns the unexpired entry at key, deleting it if it has expired.
// The mutex must be held.
func (m *Memory) live(key string, now time.Time) *memEntry {
	e, ok := m.entries[key]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		delete(m.entries, key)
		return nil
	}
	return e
}

// wrote drops expired keys found by sampling after a write. The mutex must
// be held.
func (m *Memory) wrote(now time.Time) {
	for round := 0; round < sampleRounds; round++ {
		if m.expireSample(now, sampleSize) <= sampleSize/4 {
			return
		}
	}
}

// expireSample looks at up to n keys (Go's map iteration starts at a random
// place) and drops the expired ones; it returns how many it dropped.
func (m *Memory) expireSample(now time.Time, n int) int {
	seen, dropped := 0, 0
	for k, e := range m.entries {
		if seen == n {
			break
		}
		seen++
		if !now.Before(e.expires) {
			delete(m.entries, k)
			dropped++
		}
	}
	return dropped
}

// room refuses a new key when the store is full, after looking for expired
// keys to drop. The mutex must be held.
func (m *Memory) room(key string, now time.Time) error {
	if len(m.entries) < m.maxKeys {
		return nil
	}
	if _, exists := m.entries[key]; exists {
		return nil
	}
	m.expireSample(now, fullSample)
	if len(m.entries) < m.maxKeys {
		return nil
	}
	return unavailable(ErrFull)
}

// Get returns a copy of the value stored under key.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e := m.live(key, time.Now())
	if e == nil {
		return nil, ErrNotFound
	}
	if e.members != nil {
		return nil, unavailable(errWrongKind)
	}
	return slices.Clone(e.value), nil
}

// Set stores a copy of value under key for ttl, replacing any previous value.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := time.Now()
	if err := m.room(key, now); err != nil {
		return err
	}
	m.entries[key] = &memEntry{value: cloneValue(value), expires: now.Add(ttl)}
	m.wrote(now)
	return nil
}

// Create stores a copy of value under key for ttl only if key is absent.
func (m *Memory) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := time.Now()
	if m.live(key, now) != nil {
		return ErrExists
	}
	if err := m.room(key, now); err != nil {
		return err
	}
	m.entries[key] = &memEntry{value: cloneValue(value), expires: now.Add(ttl)}
	m.wrote(now)
	return nil
}

// Swap replaces the value under key with value, and its expiry with ttl, if
// the current value equals old.
func (m *Memory) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := time.Now()
	e := m.live(key, now)
	switch {
	case e == nil:
		return ErrNotFound
	case e.members != nil:
		return unavailable(errWrongKind)
	case string(e.value) != string(old):
		return ErrConflict
	}
	m.entries[key] = &memEntry{value: cloneValue(value), expires: now.Add(ttl)}
	m.wrote(now)
	return nil
}

// Take returns the value under key and deletes the key.
func (m *Memory) Take(ctx context.Context, key string) ([]byte, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e := m.live(key, time.Now())
	if e == nil {
		return nil, ErrNotFound
	}
	if e.members != nil {
		return nil, unavailable(errWrongKind)
	}
	delete(m.entries, key)
	return e.value, nil // the entry is gone, so its slice is the caller's now
}

// Incr adds one to the decimal counter at key; a new counter expires after
// ttl and later increments keep that expiry.
func (m *Memory) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	now := time.Now()
	e := m.live(key, now)
	if e == nil {
		if err := m.room(key, now); err != nil {
			return 0, err
		}
		m.entries[key] = &memEntry{value: []byte("1"), expires: now.Add(ttl)}
		m.wrote(now)
		return 1, nil
	}
	if e.members != nil {
		return 0, unavailable(errWrongKind)
	}
	n, err := strconv.ParseInt(string(e.value), 10, 64)
	if err != nil || n == maxInt64 {
		return 0, unavailable(errors.New("value is not an integer or out of range"))
	}
	n++
	e.value = strconv.AppendInt(nil, n, 10)
	m.wrote(now)
	return n, nil
}

// Decr takes one from the counter at key, never below zero.
func (m *Memory) Decr(ctx context.Context, key string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := time.Now()
	e := m.live(key, now)
	if e == nil {
		return nil
	}
	if e.members != nil {
		return unavailable(errWrongKind)
	}
	n, err := strconv.ParseInt(string(e.value), 10, 64)
	if err != nil {
		return unavailable(errors.New("value is not an integer"))
	}
	if n > 0 {
		e.value = strconv.AppendInt(nil, n-1, 10)
		m.wrote(now)
	}
	return nil
}

// maxInt64 is the largest counter value; incrementing it fails as in Redis.
const maxInt64 = 1<<63 - 1

// Delete removes the keys; missing keys are ignored.
func (m *Memory) Delete(ctx context.Context, keys ...string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.entries, k)
	}
	return nil
}

// AddMember adds member to the set at key and makes the set live at least
// ttl from now.
func (m *Memory) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := time.Now()
	e := m.live(key, now)
	if e == nil {
		if err := m.room(key, now); err != nil {
			return err
		}
		e = &memEntry{members: make(map[string]struct{}), expires: now.Add(ttl)}
		m.entries[key] = e
	}
	if e.members == nil {
		return unavailable(errWrongKind)
	}
	e.members[member] = struct{}{}
	if until := now.Add(ttl); until.After(e.expires) {
		e.expires = until
	}
	m.wrote(now)
	return nil
}

// RemoveMember removes member from the set at key; an emptied set is
// deleted, as in Redis.
func (m *Memory) RemoveMember(ctx context.Context, key, member string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	e := m.live(key, time.Now())
	if e == nil {
		return nil
	}
	if e.members == nil {
		return unavailable(errWrongKind)
	}
	delete(e.members, member)
	if len(e.members) == 0 {
		delete(m.entries, key)
	}
	return nil
}

// Members lists the set at key in sorted order (empty when absent).
func (m *Memory) Members(ctx context.Context, key string) ([]string, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e := m.live(key, time.Now())
	if e == nil {
		return []string{}, nil
	}
	if e.members == nil {
		return nil, unavailable(errWrongKind)
	}
	out := make([]string, 0, len(e.members))
	for member := range e.members {
		out = append(out, member)
	}
	slices.Sort(out)
	return out, nil
}

// Ping reports whether the store is open.
func (m *Memory) Ping(ctx context.Context) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

// cloneValue copies value so the store never shares the caller's array; a
// nil value is stored as empty, as Redis does.
func cloneValue(value []byte) []byte {
	out := make([]byte, len(value))
	copy(out, value)
	return out
}
