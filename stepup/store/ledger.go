package store

import (
	"context"
	"time"
)

// Ledger is a shared record of members that each stay until their own end,
// read by every instance from where it last stopped, with a wake-up when
// any instance writes. The revocation list is kept in one: every instance
// holds a copy of the whole record and reads only what changed, so that a
// request never waits on the store.
//
// A Ledger keeps nothing forever: a member is forgotten after its end, and
// the ledger itself once its last member has ended. Every write moves the
// ledger's sequence forward; Read returns the members written after a
// cursor in that order. When the ledger was emptied or replaced (its keys
// expired, Redis was flushed or failed over to a replica without them), its
// epoch changes and a cursor of the old epoch reads from the start again.
type Ledger interface {
	// Put records member until until (of two ends, the later is kept) and
	// wakes every watcher. An end already past records nothing.
	Put(ctx context.Context, member string, until time.Time) error
	// Read returns at most limit members written after from, in the order
	// they were written, with the cursor after the last one. A member
	// written again is read again, once, at its latest place.
	Read(ctx context.Context, from LedgerCursor, limit int) (LedgerPage, error)
	// Watch calls wake after Puts (by any instance sharing the ledger),
	// and whenever the watch was (re)established, until ctx ends. Wake-ups
	// may be missed (a dropped connection, a failover): readers poll too.
	// It returns when ctx ends.
	Watch(ctx context.Context, wake func())
}

// LedgerCursor is a place in a ledger: its epoch and a sequence number.
// The zero cursor reads from the start.
type LedgerCursor struct {
	Epoch string
	Seq   int64
}

// LedgerRecord is one member as read.
type LedgerRecord struct {
	Member string
	Until  time.Time
}

// LedgerPage is the result of one Read.
type LedgerPage struct {
	Records []LedgerRecord
	// Next is the cursor to read from next.
	Next LedgerCursor
	// Reset reports that the cursor read from (not the zero cursor)
	// belonged to another epoch, or the ledger is empty now: the records
	// start from the beginning.
	Reset bool
	// More reports that the page was full: read again from Next.
	More bool
}
