package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// storeOp is a store operation, the op label of the store metrics.
type storeOp uint8

const (
	opGet storeOp = iota
	opSet
	opCreate
	opSwap
	opTake
	opIncr
	opDecr
	opDelete
	opAddMember
	opRemoveMember
	opMembers
	opPing
	opSpend
	opAttempt
	numStoreOps
)

var storeOpLabels = [numStoreOps]string{
	opGet: "get", opSet: "set", opCreate: "create", opSwap: "swap", opTake: "take", opIncr: "incr", opDecr: "decr",
	opDelete: "delete", opAddMember: "add_member", opRemoveMember: "remove_member", opMembers: "members", opPing: "ping",
	opSpend: "spend", opAttempt: "attempt",
}

// batchOps maps the operations of a batch to their labels.
var batchOps = map[store.OpKind]storeOp{
	store.OpGet: opGet, store.OpSet: opSet, store.OpCreate: opCreate, store.OpSwap: opSwap, store.OpTake: opTake,
	store.OpIncr: opIncr, store.OpDecr: opDecr, store.OpDelete: opDelete, store.OpAddMember: opAddMember,
	store.OpSpend: opSpend, store.OpAttempt: opAttempt,
}

// measuredStore times every store operation and counts its failures. An
// absent key, an existing one or a lost compare-and-swap are answers, not
// failures.
type measuredStore struct {
	store.Store
	seconds [numStoreOps]prometheus.Observer
	errs    [numStoreOps]prometheus.Counter
	onFail  func(op string)
	clock   func() time.Time
}

// MeasureStore wraps s so that every operation is timed
// (caddy_stepup_store_operation_seconds) and every failure counted
// (caddy_stepup_store_errors_total) and reported to onFail (may be nil).
// Wrap the store once and give the wrapper to every consumer. The wrapper
// keeps what s offers besides Store: its clock (store.ClockOf), its
// bound (store.Bounded) and its batches (store.Batcher).
func MeasureStore(s store.Store, onFail func(op string)) store.Store {
	m := &measuredStore{Store: s, onFail: onFail, clock: store.ClockOf(s)}
	for op := range numStoreOps {
		m.seconds[op] = storeSeconds.WithLabelValues(storeOpLabels[op])
		m.errs[op] = storeErrors.WithLabelValues(storeOpLabels[op])
	}
	return m
}

func (m *measuredStore) done(op storeOp, start time.Time, err error) {
	m.seconds[op].Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) {
		m.errs[op].Inc()
		if m.onFail != nil {
			m.onFail(storeOpLabels[op])
		}
	}
}

func (m *measuredStore) Get(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	v, err := m.Store.Get(ctx, key)
	m.done(opGet, start, err)
	return v, err
}

func (m *measuredStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.Set(ctx, key, value, ttl)
	m.done(opSet, start, err)
	return err
}

func (m *measuredStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.Create(ctx, key, value, ttl)
	m.done(opCreate, start, err)
	return err
}

func (m *measuredStore) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.Swap(ctx, key, old, value, ttl)
	m.done(opSwap, start, err)
	return err
}

func (m *measuredStore) Take(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	v, err := m.Store.Take(ctx, key)
	m.done(opTake, start, err)
	return v, err
}

func (m *measuredStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	start := time.Now()
	n, err := m.Store.Incr(ctx, key, ttl)
	m.done(opIncr, start, err)
	return n, err
}

func (m *measuredStore) Decr(ctx context.Context, key string) error {
	start := time.Now()
	err := m.Store.Decr(ctx, key)
	m.done(opDecr, start, err)
	return err
}

func (m *measuredStore) Delete(ctx context.Context, keys ...string) error {
	start := time.Now()
	err := m.Store.Delete(ctx, keys...)
	m.done(opDelete, start, err)
	return err
}

func (m *measuredStore) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.AddMember(ctx, key, member, ttl)
	m.done(opAddMember, start, err)
	return err
}

func (m *measuredStore) RemoveMember(ctx context.Context, key, member string) error {
	start := time.Now()
	err := m.Store.RemoveMember(ctx, key, member)
	m.done(opRemoveMember, start, err)
	return err
}

func (m *measuredStore) Members(ctx context.Context, key string) ([]string, error) {
	start := time.Now()
	v, err := m.Store.Members(ctx, key)
	m.done(opMembers, start, err)
	return v, err
}

func (m *measuredStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := m.Store.Ping(ctx)
	m.done(opPing, start, err)
	return err
}

// Batch runs a batch on the wrapped store (store.Do): each operation is
// timed under its own label, with the time of the whole batch it was
// part of.
func (m *measuredStore) Batch(ctx context.Context, ops []*store.Op) {
	start := time.Now()
	store.Do(ctx, m.Store, ops...)
	for _, op := range ops {
		if label, ok := batchOps[op.Kind]; ok {
			m.done(label, start, op.Err)
		}
	}
}

// NearlyFull passes the memory store's bound through (store.Bounded).
func (m *measuredStore) NearlyFull() bool {
	b, ok := m.Store.(store.Bounded)
	return ok && b.NearlyFull()
}

// Now is the wrapped store's clock, or the local one (store.Clock).
func (m *measuredStore) Now() time.Time { return m.clock() }

// Interface guards
var (
	_ store.Store   = (*measuredStore)(nil)
	_ store.Bounded = (*measuredStore)(nil)
	_ store.Clock   = (*measuredStore)(nil)
	_ store.Batcher = (*measuredStore)(nil)
)
