package store

import (
	"context"
	"time"
)

// Batches. An engine operation often needs several independent store
// operations: the records a request reads, the counters it spends, the
// writes that finish it. Sent one by one each costs a round trip; a
// Batcher sends them together (Redis: one pipeline, so one round trip on a
// standalone or Sentinel deployment and one per node, in parallel, on a
// Cluster). Each operation keeps every guarantee of the method it stands
// for (atomicity, the deadline guard of consuming scripts, waiting for
// replicas); the batch as a whole is not atomic: operations run in order
// on one node, in parallel across a Cluster's nodes, and each succeeds or
// fails on its own.

// OpKind is what an Op does: the Store method of the same name.
type OpKind int

// The kinds of Op.
const (
	OpGet OpKind = iota + 1
	OpSet
	OpCreate
	OpSwap
	OpTake
	OpIncr
	OpDecr
	OpDelete
	OpAddMember
	OpSpend
	OpAttempt
)

// Op is one operation of a batch, and its result. Err is what the method
// would have returned (ErrNotFound, ErrExists, ErrConflict, ErrUnavailable,
// ErrInvalidTTL).
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte // Set, Create, Swap (the new value); AddMember: the member
	Old   []byte // Swap
	TTL   time.Duration
	// Spend: the lock and the counters (spend.go).
	Lock     Lock
	Counters []Counter
	// Attempt: Key counts attempts (TTL: a new counter's window), Max are
	// allowed; when Value is set and the attempt is within Max, Record is
	// swapped from Old to Value (RecordTTL). Key and Record share one
	// Cluster slot.
	Max       int64
	Record    string
	RecordTTL time.Duration

	Result []byte // Get, Take
	N      int64  // Incr; Attempt: the attempts counted, this one included
	Spent  Spent  // Spend
	Err    error
}

// GetOp reads key.
func GetOp(key string) *Op { return &Op{Kind: OpGet, Key: key} }

// SetOp stores value under key for ttl.
func SetOp(key string, value []byte, ttl time.Duration) *Op {
	return &Op{Kind: OpSet, Key: key, Value: value, TTL: ttl}
}

// CreateOp stores value under key for ttl if key is absent.
func CreateOp(key string, value []byte, ttl time.Duration) *Op {
	return &Op{Kind: OpCreate, Key: key, Value: value, TTL: ttl}
}

// SwapOp replaces old by value under key (compare-and-swap).
func SwapOp(key string, old, value []byte, ttl time.Duration) *Op {
	return &Op{Kind: OpSwap, Key: key, Old: old, Value: value, TTL: ttl}
}

// TakeOp reads and deletes key in one atomic step.
func TakeOp(key string) *Op { return &Op{Kind: OpTake, Key: key} }

// IncrOp adds one to the counter at key (a new one expires after ttl).
func IncrOp(key string, ttl time.Duration) *Op { return &Op{Kind: OpIncr, Key: key, TTL: ttl} }

// DecrOp takes one back from a positive counter at key.
func DecrOp(key string) *Op { return &Op{Kind: OpDecr, Key: key} }

// DeleteOp removes key.
func DeleteOp(key string) *Op { return &Op{Kind: OpDelete, Key: key} }

// AddMemberOp adds member to the set at key, which lives at least ttl.
func AddMemberOp(key, member string, ttl time.Duration) *Op {
	return &Op{Kind: OpAddMember, Key: key, Value: []byte(member), TTL: ttl}
}

// SpendOp spends counters past a lock (spend.go).
func SpendOp(lock Lock, counters []Counter) *Op {
	return &Op{Kind: OpSpend, Lock: lock, Counters: counters, Spent: Spent{Refused: -1}}
}

// AttemptOp counts an attempt in the counter at key (a new one expires
// after window) and, only when it is one of the first max, swaps record
// from old to value (ttl); with value nil it only counts. Of attempts
// past max none swaps, however many run at once: the count and the swap
// are one atomic step.
func AttemptOp(key string, window time.Duration, max int64, record string, old, value []byte, ttl time.Duration) *Op {
	return &Op{Kind: OpAttempt, Key: key, TTL: window, Max: max, Record: record, Old: old, Value: value, RecordTTL: ttl}
}

// Batcher is a Store that can send several operations at once.
type Batcher interface {
	// Batch runs ops and sets each one's result and Err.
	Batch(ctx context.Context, ops []*Op)
}

// Do runs ops on s: in one batch when s is a Batcher, else one after the
// other, in order. Each op's Err tells how it went.
func Do(ctx context.Context, s Store, ops ...*Op) {
	if b, ok := s.(Batcher); ok {
		b.Batch(ctx, ops)
		return
	}
	for _, op := range ops {
		runOne(ctx, s, op)
	}
}

// runOne runs op through the Store method it stands for.
func runOne(ctx context.Context, s Store, op *Op) {
	switch op.Kind {
	case OpGet:
		op.Result, op.Err = s.Get(ctx, op.Key)
	case OpSet:
		op.Err = s.Set(ctx, op.Key, op.Value, op.TTL)
	case OpCreate:
		op.Err = s.Create(ctx, op.Key, op.Value, op.TTL)
	case OpSwap:
		op.Err = s.Swap(ctx, op.Key, op.Old, op.Value, op.TTL)
	case OpTake:
		op.Result, op.Err = s.Take(ctx, op.Key)
	case OpIncr:
		op.N, op.Err = s.Incr(ctx, op.Key, op.TTL)
	case OpDecr:
		op.Err = s.Decr(ctx, op.Key)
	case OpDelete:
		op.Err = s.Delete(ctx, op.Key)
	case OpAddMember:
		op.Err = s.AddMember(ctx, op.Key, string(op.Value), op.TTL)
	case OpSpend:
		op.Spent, op.Err = spendOneByOne(ctx, s, op.Lock, op.Counters)
	case OpAttempt:
		attemptOneByOne(ctx, s, op)
	default:
		op.Err = unavailable(errUnknownOp)
	}
}

// attemptOneByOne is an attempt through the methods: the count first,
// then, within the limit, the swap.
func attemptOneByOne(ctx context.Context, s Store, op *Op) {
	if op.N, op.Err = s.Incr(ctx, op.Key, op.TTL); op.Err != nil || op.N > op.Max || op.Value == nil {
		return
	}
	op.Err = s.Swap(ctx, op.Record, op.Old, op.Value, op.RecordTTL)
}
