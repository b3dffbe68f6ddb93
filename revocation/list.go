package revocation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Defaults of Options.
const (
	DefaultPollInterval = time.Second
	DefaultMaxStaleness = 10 * time.Second
	DefaultMaxEntries   = 1_000_000
)

var (
	// ErrStale: the list could not be read from the ledger for longer than
	// MaxStaleness; every token is refused until it can be (fail closed).
	ErrStale = errors.New("revocation: the revocation list is out of date")
	// ErrFull: the list holds MaxEntries entries; a new one is refused
	// (nothing is dropped to make room).
	ErrFull = errors.New("revocation: the revocation list is full")
	// ErrUnavailable: the ledger could not record a revocation.
	ErrUnavailable = errors.New("revocation: the revocation list cannot be written")
)

// Options configure a List.
type Options struct {
	// Ledger is where the list is shared (store.NewRedisLedger), or this
	// process's (store.NewMemoryLedger). Required.
	Ledger store.Ledger
	// Now is the clock entries end by: the store's, so that instances
	// agree. Default time.Now.
	Now func() time.Time
	// PollInterval: the ledger is read this often even when no wake-up
	// came. Default 1s.
	PollInterval time.Duration
	// MaxStaleness: when the ledger could not be read for this long, every
	// check fails with ErrStale. Default 10s; at least 2×PollInterval.
	MaxStaleness time.Duration
	// MaxEntries bounds the entries this instance records (entries written
	// by other instances are always taken). Default 1000000.
	MaxEntries int
	// OnRead is told of each read of the ledger. Optional; it must be
	// quick.
	OnRead func(ReadReport)
	// OnStale is told when the list becomes stale (true) and fresh again
	// (false); not of the first read that makes a new list fresh.
	// Optional; it must be quick.
	OnStale func(stale bool)
}

// List is the revocation list of one store, shared by every handler of the
// process that uses that store. It is safe for concurrent use.
type List struct {
	opts  Options
	index *index
	// stale is set by the reader when the last good read is older than
	// MaxStaleness; checks read only this flag.
	stale atomic.Bool

	mu       sync.Mutex // the reader's state below
	cursor   store.LedgerCursor
	lastRead time.Time // monotonic: the last complete read
	// reportedStale: OnStale was last told true.
	reportedStale bool
	running       context.CancelFunc
	done          chan struct{}
	wake          chan struct{}
}

// New returns a list that is stale until Start has read the ledger.
func New(opts Options) (*List, error) {
	if opts.Ledger == nil {
		return nil, errors.New("revocation: a ledger is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxStaleness == 0 {
		opts.MaxStaleness = max(DefaultMaxStaleness, 2*opts.PollInterval)
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.PollInterval < 10*time.Millisecond || opts.MaxStaleness < 2*opts.PollInterval || opts.MaxEntries < 0 {
		return nil, errors.New("revocation: poll interval at least 10ms, staleness bound at least twice the poll interval")
	}
	l := &List{opts: opts, index: newIndex(), wake: make(chan struct{}, 1)}
	l.stale.Store(true)
	return l, nil
}

// Revoke records e in the ledger (so that every instance refuses its
// tokens) and in this instance's list at once. A zero At is now. It fails
// with ErrInvalidEntry, ErrFull or ErrUnavailable, and then changes
// nothing here (a write that timed out may still reach the ledger: a
// revocation that happens late only refuses more).
func (l *List) Revoke(ctx context.Context, e Entry) error {
	now := l.opts.Now()
	if e.At.IsZero() {
		e.At = now
	}
	e.At = e.At.Truncate(time.Millisecond)
	if err := e.check(now); err != nil {
		return err
	}
	if l.opts.MaxEntries > 0 && l.index.size.Load() >= int64(l.opts.MaxEntries) && !l.index.has(e) {
		return ErrFull
	}
	if err := l.opts.Ledger.Put(ctx, e.member(), e.Until); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	l.index.add(e)
	return nil
}

// ReadReport is one read of the ledger.
type ReadReport struct {
	Added   int   // entries it brought that the list did not hold
	Entries int   // entries the list holds after it
	Err     error // why it failed, nil when it did not
}

// TokenFacts are the claims of a verified token that revocations name.
type TokenFacts struct {
	Issuer, Subject, SessionID, ID string
	IssuedAt                       time.Time // zero when the token has no iat
}

// Check returns the entry that revokes t, or nil. It fails with ErrStale
// when the list is out of date: the caller must then refuse t. It takes no
// lock while the list is empty, and a read lock otherwise; t is taken by
// value so that a caller through an interface allocates nothing.
func (l *List) Check(t TokenFacts) (*Entry, error) {
	if l.stale.Load() {
		return nil, ErrStale
	}
	if l.index.size.Load() == 0 {
		return nil, nil
	}
	l.index.mu.RLock()
	e := l.index.match(&t)
	l.index.mu.RUnlock()
	return e, nil
}

// Filter selects entries for Entries; empty fields match everything.
type Filter struct {
	Kind   Kind
	Issuer string
	Value  string
}

// Entries lists the live entries that match f, newest first, at most
// limit of them, and how many match in all.
func (l *List) Entries(f Filter, limit int) ([]Entry, int) {
	now := l.opts.Now()
	all := l.index.entries(func(e *Entry) bool {
		return e.Until.After(now) && (f.Kind == "" || e.Kind == f.Kind) &&
			(f.Issuer == "" || e.Issuer == f.Issuer) && (f.Value == "" || e.Value == f.Value)
	})
	sort.Slice(all, func(i, j int) bool {
		if !all[i].At.Equal(all[j].At) {
			return all[i].At.After(all[j].At)
		}
		if all[i].Kind != all[j].Kind {
			return all[i].Kind < all[j].Kind
		}
		if all[i].Issuer != all[j].Issuer {
			return all[i].Issuer < all[j].Issuer
		}
		return all[i].Value < all[j].Value
	})
	total := len(all)
	if limit >= 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, total
}

// Len is the number of entries held (some may have ended since the last
// sweep).
func (l *List) Len() int { return int(l.index.size.Load()) }

// Stale reports whether checks fail with ErrStale now.
func (l *List) Stale() bool { return l.stale.Load() }
