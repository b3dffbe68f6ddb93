package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"
)

// MemoryLedger is a Ledger in this process's memory, for the memory store:
// every reader in the process shares it.
type MemoryLedger struct {
	mu       sync.Mutex
	now      func() time.Time
	epoch    string
	seq      int64
	members  map[string]memberState
	log      []logEntry // in write order; stale entries skipped by seq
	watchers map[int]func()
	nextID   int
	swept    time.Time // the last look for ended members
}

type memberState struct {
	until time.Time
	seq   int64
}

type logEntry struct {
	member string
	seq    int64
}

var _ Ledger = (*MemoryLedger)(nil)

// NewMemoryLedger returns an empty ledger whose ends are judged by now
// (time.Now when nil).
func NewMemoryLedger(now func() time.Time) *MemoryLedger {
	if now == nil {
		now = time.Now
	}
	return &MemoryLedger{now: now, members: map[string]memberState{}, watchers: map[int]func(){}}
}

// Put records member until until and wakes the watchers.
func (l *MemoryLedger) Put(ctx context.Context, member string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	l.mu.Lock()
	now := l.now()
	if !until.After(now) {
		l.mu.Unlock()
		return nil
	}
	l.forget(now)
	if l.epoch == "" {
		l.epoch = newEpoch()
	}
	l.seq++
	st := l.members[member]
	if until.After(st.until) {
		st.until = until
	}
	st.seq = l.seq
	l.members[member] = st
	l.log = append(l.log, logEntry{member: member, seq: l.seq})
	watchers := make([]func(), 0, len(l.watchers))
	for _, w := range l.watchers {
		watchers = append(watchers, w)
	}
	l.mu.Unlock()
	for _, w := range watchers {
		w()
	}
	return nil
}

// forget drops the members whose end has passed (looking at most once a
// second, so that a large ledger costs no scan per call), and the whole
// ledger (a new epoch) when none is left, as Redis's key expiry does. The
// log is compacted when most of it is stale. The mutex must be held.
func (l *MemoryLedger) forget(now time.Time) {
	if now.Sub(l.swept) < time.Second && now.After(l.swept) {
		return
	}
	l.swept = now
	for m, st := range l.members {
		if !st.until.After(now) {
			delete(l.members, m)
		}
	}
	if len(l.members) == 0 {
		l.epoch, l.seq, l.log = "", 0, nil
		return
	}
	if len(l.log) > 2*len(l.members)+16 {
		kept := l.log[:0]
		for _, e := range l.log {
			if st, ok := l.members[e.member]; ok && st.seq == e.seq {
				kept = append(kept, e)
			}
		}
		l.log = kept
	}
}

// Read returns the members written after from.
func (l *MemoryLedger) Read(ctx context.Context, from LedgerCursor, limit int) (LedgerPage, error) {
	if err := ctx.Err(); err != nil {
		return LedgerPage{}, unavailable(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forget(l.now())
	page := LedgerPage{Next: LedgerCursor{Epoch: l.epoch}}
	seq := from.Seq
	if from.Epoch != l.epoch {
		page.Reset, seq = from != (LedgerCursor{}), 0
	}
	page.Next.Seq = seq
	start := sort.Search(len(l.log), func(i int) bool { return l.log[i].seq > seq })
	for _, e := range l.log[start:] {
		st, ok := l.members[e.member]
		if !ok || st.seq != e.seq {
			continue
		}
		if len(page.Records) == limit {
			page.More = true
			break
		}
		page.Records = append(page.Records, LedgerRecord{Member: e.member, Until: st.until})
		page.Next.Seq = e.seq
	}
	return page, nil
}

// Watch calls wake after every Put until ctx ends.
func (l *MemoryLedger) Watch(ctx context.Context, wake func()) {
	l.mu.Lock()
	id := l.nextID
	l.nextID++
	l.watchers[id] = wake
	l.mu.Unlock()
	wake()
	<-ctx.Done()
	l.mu.Lock()
	delete(l.watchers, id)
	l.mu.Unlock()
}

// newEpoch names a new life of a ledger.
func newEpoch() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
