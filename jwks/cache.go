package jwks

import (
	"math/rand/v2"
	"sync"
	"time"
)

// tokenCache remembers verified tokens by the SHA-256 of their bytes (never
// the token itself) until their exp. It is bounded: a full shard evicts a
// random entry in O(1). Only successes are stored, so garbage tokens cannot
// fill it. Sharded so that concurrent hits rarely share a lock.
type tokenCache struct {
	shards []cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[[32]byte]*cacheEntry
	order   []*cacheEntry // dense, for random eviction
	max     int
}

type cacheEntry struct {
	key     [32]byte
	claims  *Claims
	expires time.Time
	index   int // position in order
}

const maxCacheShards = 16

// newTokenCache returns a cache holding at most size entries in total.
func newTokenCache(size int) *tokenCache {
	n := min(maxCacheShards, size)
	c := &tokenCache{shards: make([]cacheShard, n)}
	per := size / n
	for i := range c.shards {
		c.shards[i] = cacheShard{entries: make(map[[32]byte]*cacheEntry, per), max: per}
	}
	return c
}

func (c *tokenCache) shard(key *[32]byte) *cacheShard {
	return &c.shards[int(key[0])%len(c.shards)]
}

// get returns the claims cached under key if they have not expired at now.
func (c *tokenCache) get(key *[32]byte, now time.Time) (*Claims, bool) {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.entries[*key]
	var claims *Claims
	var expires time.Time
	if ok {
		claims, expires = e.claims, e.expires
	}
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if !now.Before(expires) {
		s.remove(key)
		return nil, false
	}
	return claims, true
}

// put stores claims under key until expires, evicting a random entry when
// the shard is full.
func (c *tokenCache) put(key *[32]byte, claims *Claims, expires time.Time) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[*key]; ok {
		e.claims, e.expires = claims, expires
		return
	}
	if len(s.order) >= s.max {
		s.removeLocked(s.order[rand.IntN(len(s.order))])
	}
	e := &cacheEntry{key: *key, claims: claims, expires: expires, index: len(s.order)}
	s.entries[*key] = e
	s.order = append(s.order, e)
}

func (s *cacheShard) remove(key *[32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[*key]; ok {
		s.removeLocked(e)
	}
}

// removeLocked deletes e by swapping the last entry into its slot.
func (s *cacheShard) removeLocked(e *cacheEntry) {
	last := s.order[len(s.order)-1]
	s.order[e.index] = last
	last.index = e.index
	s.order[len(s.order)-1] = nil
	s.order = s.order[:len(s.order)-1]
	delete(s.entries, e.key)
}

// len reports the number of entries (tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
