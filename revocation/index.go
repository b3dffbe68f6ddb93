package revocation

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// index is the in-memory list every request is checked against. It is
// built for a large list on a busy gateway: the garbage collector scans it
// on every cycle, so it holds as few pointers as it can. The map from an
// entry's hash (kind, issuer, value) to its record holds none; a record
// holds one (its value), and refers to its issuer and reason by number
// (both come from small sets). About 100 bytes an entry.
type index struct {
	mu     sync.RWMutex
	seed   maphash.Seed
	byHash map[uint64]int32 // hash → slot in recs
	// overflow holds the identities whose hash another entry holds
	// already: a 64-bit collision, kept apart so that it refuses nothing
	// it should not and misses nothing it should.
	overflow map[identity]int32
	recs     []record
	free     []int32 // slots of forgotten records, reused
	issuers  names
	reasons  names
	// size counts the live entries; written under mu, read without it
	// (the lock-free "empty" path of List.Check).
	size atomic.Int64
}

// identity is what names an entry: two revocations with the same identity
// are one entry (the later At and Until kept). The issuer is its interned
// number: a lookup hashes the token's issuer once, not once per kind.
type identity struct {
	kind   uint8 // slot(Kind)
	issuer uint32
	value  string
}

// slotOf numbers the kinds.
func slotOf(k Kind) uint8 {
	switch k {
	case Session:
		return 0
	case Subject:
		return 1
	default:
		return 2
	}
}

// record is one entry as the index keeps it.
type record struct {
	value     string
	at, until int64  // Unix ms
	issuer    uint32 // in index.issuers
	reason    uint32 // in index.reasons
	kind      Kind
	live      bool
}

// names interns the few distinct strings of a field.
type names struct {
	ids   map[string]uint32
	texts []string
}

func (n *names) id(s string) uint32 {
	if id, ok := n.ids[s]; ok {
		return id
	}
	if n.ids == nil {
		n.ids = map[string]uint32{}
	}
	id := uint32(len(n.texts))
	n.ids[s] = id
	n.texts = append(n.texts, s)
	return id
}

// lookup is the id of s, if s was ever interned.
func (n *names) lookup(s string) (uint32, bool) {
	id, ok := n.ids[s]
	return id, ok
}

func newIndex() *index {
	return &index{seed: maphash.MakeSeed(), byHash: map[uint64]int32{}, overflow: map[identity]int32{}}
}

// hash is id's hash: the value's, mixed with its kind and issuer number
// (a collision costs a comparison, or a place in overflow: never a wrong
// answer).
func (ix *index) hash(id identity) uint64 {
	h := maphash.String(ix.seed, id.value)
	return (h ^ (uint64(id.issuer)<<2 | uint64(id.kind))) * 0x9e3779b97f4a7c15
}

// is reports whether the record holds identity id.
func (ix *index) is(r *record, id identity) bool {
	return r.live && slotOf(r.kind) == id.kind && r.issuer == id.issuer && r.value == id.value
}

// slot finds id's record. The read lock must be held.
func (ix *index) slot(id identity) (int32, bool) {
	if i, ok := ix.byHash[ix.hash(id)]; ok && ix.is(&ix.recs[i], id) {
		return i, true
	}
	if len(ix.overflow) > 0 {
		if i, ok := ix.overflow[id]; ok {
			return i, true
		}
	}
	return 0, false
}

// add records e, keeping the later At and Until of an entry already there
// (a later At refuses more of a subject's tokens; a later Until keeps the
// entry longer). It reports whether the index grew.
func (ix *index) add(e Entry) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	id := identity{slotOf(e.Kind), ix.issuers.id(e.Issuer), e.Value}
	at, until := e.At.UnixMilli(), e.Until.UnixMilli()
	if i, ok := ix.slot(id); ok {
		r := &ix.recs[i]
		if at > r.at {
			r.at, r.reason = at, ix.reasons.id(e.Reason)
		}
		r.until = max(r.until, until)
		return false
	}
	r := record{value: e.Value, at: at, until: until, issuer: id.issuer, reason: ix.reasons.id(e.Reason),
		kind: e.Kind, live: true}
	var i int32
	if n := len(ix.free); n > 0 {
		i, ix.free = ix.free[n-1], ix.free[:n-1]
		ix.recs[i] = r
	} else {
		i = int32(len(ix.recs))
		ix.recs = append(ix.recs, r)
	}
	h := ix.hash(id)
	if _, taken := ix.byHash[h]; taken {
		ix.overflow[id] = i
	} else {
		ix.byHash[h] = i
	}
	ix.size.Add(1)
	return true
}

// has reports whether an entry of e's identity is held.
func (ix *index) has(e Entry) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	iss, known := ix.issuers.lookup(e.Issuer)
	if !known {
		return false
	}
	_, ok := ix.slot(identity{slotOf(e.Kind), iss, e.Value})
	return ok
}

// match returns the entry that refuses t, if any. The read lock must be
// held. Nothing is allocated unless an entry matches.
func (ix *index) match(t *TokenFacts) *Entry {
	iss, known := ix.issuers.lookup(t.Issuer)
	if !known {
		return nil // no entry names the token's issuer
	}
	for _, c := range [...]struct {
		kind  Kind
		value string
	}{{Session, t.SessionID}, {Token, t.ID}, {Subject, t.Subject}} {
		if c.value == "" {
			continue
		}
		i, ok := ix.slot(identity{slotOf(c.kind), iss, c.value})
		if !ok {
			continue
		}
		r := &ix.recs[i]
		if c.kind == Subject && !t.IssuedAt.IsZero() && t.IssuedAt.Unix() > r.at/1000 {
			continue // issued after the revocation (iat has whole seconds)
		}
		e := ix.entry(r)
		return &e
	}
	return nil
}

// entry is r as an Entry.
func (ix *index) entry(r *record) Entry {
	return Entry{Kind: r.kind, Issuer: ix.issuers.texts[r.issuer], Value: r.value, At: time.UnixMilli(r.at),
		Until: time.UnixMilli(r.until), Reason: ix.reasons.texts[r.reason]}
}

// forget drops the entries whose Until has passed; it returns how many
// remain.
func (ix *index) forget(now time.Time) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cut := now.UnixMilli()
	for i := range ix.recs {
		r := &ix.recs[i]
		if !r.live || r.until > cut {
			continue
		}
		id := identity{slotOf(r.kind), r.issuer, r.value}
		if j, ok := ix.overflow[id]; ok && j == int32(i) {
			delete(ix.overflow, id)
		} else if h := ix.hash(id); ix.byHash[h] == int32(i) {
			delete(ix.byHash, h)
		}
		*r = record{}
		ix.free = append(ix.free, int32(i))
		ix.size.Add(-1)
	}
	return int(ix.size.Load())
}

// entries copies every entry accepted by keep.
func (ix *index) entries(keep func(*Entry) bool) []Entry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []Entry
	for i := range ix.recs {
		if !ix.recs[i].live {
			continue
		}
		if e := ix.entry(&ix.recs[i]); keep(&e) {
			out = append(out, e)
		}
	}
	return out
}
