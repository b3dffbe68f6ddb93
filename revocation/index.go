package revocation

import (
	"sync"
	"sync/atomic"
	"time"
)

// index is the in-memory list every request is checked against: one map
// per kind, keyed by issuer and value, so that a lookup builds no string.
type index struct {
	mu sync.RWMutex
	// kinds holds one map per kind, in the order of Kinds (slot), so that
	// a lookup hashes no kind name.
	kinds [3]map[key]*Entry
	// size counts the entries; written under mu, read without it (the
	// lock-free "empty" path of List.Check).
	size atomic.Int64
}

type key struct{ issuer, value string }

func newIndex() *index {
	ix := &index{}
	for i := range ix.kinds {
		ix.kinds[i] = map[key]*Entry{}
	}
	return ix
}

// slot is k's place in index.kinds (and in Kinds).
func slot(k Kind) int {
	switch k {
	case Session:
		return 0
	case Subject:
		return 1
	default:
		return 2
	}
}

// add records e, keeping the later At and Until of an entry already there
// (a later At refuses more of a subject's tokens; a later Until keeps the
// entry longer). It reports whether the index grew.
func (ix *index) add(e Entry) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	m := ix.kinds[slot(e.Kind)]
	k := key{e.Issuer, e.Value}
	if old, ok := m[k]; ok {
		merged := *old
		if e.At.After(merged.At) {
			merged.At, merged.Reason = e.At, e.Reason
		}
		if e.Until.After(merged.Until) {
			merged.Until = e.Until
		}
		m[k] = &merged
		return false
	}
	m[k] = &e
	ix.size.Add(1)
	return true
}

// find returns the entry of kind k for issuer and value, if any.
func (ix *index) find(k Kind, issuer, value string) *Entry {
	if value == "" {
		return nil
	}
	return ix.kinds[slot(k)][key{issuer, value}]
}

// match returns the entry that refuses t, if any. The read lock must be
// held.
func (ix *index) match(t *TokenFacts) *Entry {
	if e := ix.find(Session, t.Issuer, t.SessionID); e != nil {
		return e
	}
	if e := ix.find(Token, t.Issuer, t.ID); e != nil {
		return e
	}
	if e := ix.find(Subject, t.Issuer, t.Subject); e != nil {
		if t.IssuedAt.IsZero() || t.IssuedAt.Unix() <= e.At.Unix() {
			return e
		}
	}
	return nil
}

// forget drops the entries whose Until has passed; it returns how many
// remain.
func (ix *index) forget(now time.Time) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, m := range ix.kinds {
		for k, e := range m {
			if !e.Until.After(now) {
				delete(m, k)
				ix.size.Add(-1)
			}
		}
	}
	return int(ix.size.Load())
}

// entries copies every entry accepted by keep.
func (ix *index) entries(keep func(*Entry) bool) []Entry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []Entry
	for _, m := range ix.kinds {
		for _, e := range m {
			if keep(e) {
				out = append(out, *e)
			}
		}
	}
	return out
}
