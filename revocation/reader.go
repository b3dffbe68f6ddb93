package revocation

import (
	"context"
	"errors"
	"time"
)

// readPage is how many ledger members one read brings at most.
const readPage = 2000

// sweepEvery is how often ended entries are dropped from the list.
const sweepEvery = time.Minute

// Start reads the whole ledger (bounded by ctx), then keeps reading it in
// the background: when the ledger wakes the list, and every PollInterval.
// The list is stale until the first read succeeds; Start returns that
// read's error, and the reader keeps trying. Stop ends the reader.
func (l *List) Start(ctx context.Context) error {
	l.mu.Lock()
	if l.running != nil {
		l.mu.Unlock()
		return errors.New("revocation: list already started")
	}
	bg, cancel := context.WithCancel(context.Background())
	l.running, l.done = cancel, make(chan struct{})
	l.mu.Unlock()

	err := l.readAll(ctx)
	go l.watch(bg)
	go l.run(bg)
	return err
}

// Stop ends the background reader and waits for it.
func (l *List) Stop() {
	l.mu.Lock()
	cancel, done := l.running, l.done
	l.running = nil
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Sync reads what the ledger holds beyond the list's cursor now.
func (l *List) Sync(ctx context.Context) error { return l.readAll(ctx) }

// watch turns the ledger's wake-ups into reads.
func (l *List) watch(ctx context.Context) {
	l.opts.Ledger.Watch(ctx, func() {
		select {
		case l.wake <- struct{}{}:
		default: // a read is pending already
		}
	})
}

// run reads the ledger on each wake-up and poll, judges staleness, and
// sweeps ended entries.
func (l *List) run(ctx context.Context) {
	defer close(l.done)
	poll := time.NewTicker(l.opts.PollInterval)
	defer poll.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-poll.C:
		}
		_ = l.readAll(ctx)
		if time.Since(lastSweep) >= sweepEvery {
			lastSweep = time.Now()
			l.index.forget(l.opts.Now())
		}
	}
}

// readAll reads pages until the ledger has nothing newer, then judges
// staleness: fresh after a complete read, stale once the last one is
// older than MaxStaleness.
func (l *List) readAll(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	added, err := 0, error(nil)
	for {
		var page pageResult
		page, err = l.readPage(ctx)
		added += page.added
		if err != nil || !page.more {
			break
		}
	}
	if err == nil {
		l.lastRead = time.Now()
	}
	if l.opts.OnRead != nil {
		l.opts.OnRead(ReadReport{Added: added, Entries: l.Len(), Err: err})
	}
	stale := l.lastRead.IsZero() || time.Since(l.lastRead) > l.opts.MaxStaleness
	// The first read makes a new list fresh without a report: only a list
	// that went stale is reported fresh again.
	if l.stale.Swap(stale) != stale && l.opts.OnStale != nil && (stale || l.reportedStale) {
		l.reportedStale = stale
		l.opts.OnStale(stale)
	}
	return err
}

type pageResult struct {
	added int
	more  bool
}

// readPage reads one page from the cursor and applies it. The mutex must
// be held.
func (l *List) readPage(ctx context.Context) (pageResult, error) {
	ctx, cancel := context.WithTimeout(ctx, max(l.opts.PollInterval, time.Second))
	defer cancel()
	page, err := l.opts.Ledger.Read(ctx, l.cursor, readPage)
	if err != nil {
		return pageResult{}, err
	}
	// A reset (the ledger was emptied or replaced) keeps what this
	// instance knows: its entries still end on their own.
	added := 0
	for _, r := range page.Records {
		e, err := parseMember(r.Member, r.Until)
		if err != nil {
			continue // not written by this package: ignored
		}
		if l.index.add(e) {
			added++
		}
	}
	l.cursor = page.Next
	return pageResult{added: added, more: page.More}, nil
}
