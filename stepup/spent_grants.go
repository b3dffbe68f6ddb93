package stepup

import "sync"

// spentGrantMemory is how many spent single-use grants an instance
// remembers (about 100 bytes each).
const spentGrantMemory = 10000

// spentGrants remembers the single-use grants this instance found spent
// (it spent them, or found them gone). A grant once spent never comes
// back (its ID is random and never stored again), so a token presenting
// it again on this instance is refused without a store round trip; on
// another instance it costs the one Take that finds nothing. Bounded:
// the oldest are forgotten first.
type spentGrants struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

func newSpentGrants(n int) *spentGrants {
	return &spentGrants{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (s *spentGrants) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[key]
	return ok
}

func (s *spentGrants) add(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[key]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = key
	s.set[key] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
