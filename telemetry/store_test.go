package telemetry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

func opSeries(op string) (seconds, errs string) {
	return `caddy_stepup_store_operation_seconds_count{op="` + op + `"}`, `caddy_stepup_store_errors_total{op="` + op + `"}`
}

// TestMeasuredStoreTimesEveryOperation: each operation is timed under its
// own label, answered or not.
func TestMeasuredStoreTimesEveryOperation(t *testing.T) {
	mem := store.NewMemory()
	s := MeasureStore(mem, nil)
	ctx, ttl := context.Background(), time.Minute
	before := scrape(t)
	_ = s.Set(ctx, "k", []byte("1"), ttl)
	_, _ = s.Get(ctx, "k")
	_ = s.Create(ctx, "c", []byte("1"), ttl)
	_ = s.Swap(ctx, "k", []byte("1"), []byte("2"), ttl)
	_, _ = s.Take(ctx, "c")
	_, _ = s.Incr(ctx, "n", ttl)
	_ = s.Decr(ctx, "n")
	_ = s.Delete(ctx, "k", "n")
	_ = s.AddMember(ctx, "set", "a", ttl)
	_ = s.RemoveMember(ctx, "set", "a")
	_, _ = s.Members(ctx, "set")
	_ = s.Ping(ctx)
	_, _ = store.Spend(ctx, s, store.Lock{}, []store.Counter{{Key: "c", Limit: 1, Window: ttl}})
	store.Do(ctx, s, store.AttemptOp("tries", ttl, 5, "record", nil, nil, ttl))
	want := map[string]float64{}
	for _, op := range storeOpLabels {
		seconds, _ := opSeries(op)
		want[seconds] = 1
	}
	wantMoved(t, "one call of each operation", moved(before, scrape(t)), want)
}

// TestMeasuredStoreCountsFailuresNotAnswers: an absent key, an existing key
// and a lost compare-and-swap are answers (timed, not counted as errors,
// not reported); a full or closed store is a failure (counted and
// reported with its operation).
func TestMeasuredStoreCountsFailuresNotAnswers(t *testing.T) {
	mem := store.NewMemory()
	var failed []string
	s := MeasureStore(mem, func(op string) { failed = append(failed, op) })
	ctx, ttl := context.Background(), time.Minute
	// wantMoved also checks that no other series moved (no error counted).
	getSeconds, getErrs := opSeries("get")
	createSeconds, _ := opSeries("create")
	swapSeconds, _ := opSeries("swap")
	takeSeconds, _ := opSeries("take")
	setSeconds, setErrs := opSeries("set")

	before := scrape(t)
	if _, err := s.Get(ctx, "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := s.Take(ctx, "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take: %v", err)
	}
	if err := s.Create(ctx, "k", []byte("1"), ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "k", []byte("1"), ttl); !errors.Is(err, store.ErrExists) {
		t.Fatalf("create again: %v", err)
	}
	if err := s.Swap(ctx, "k", []byte("other"), []byte("2"), ttl); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("swap: %v", err)
	}
	if err := s.Swap(ctx, "absent", []byte("1"), []byte("2"), ttl); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("swap absent: %v", err)
	}
	wantMoved(t, "answers", moved(before, scrape(t)), map[string]float64{getSeconds: 1, takeSeconds: 1, createSeconds: 2, swapSeconds: 2})
	if len(failed) != 0 {
		t.Errorf("answers reported as failures: %v", failed)
	}

	before = scrape(t)
	mem.SetMaxKeys(1) // "k" is there: a new key does not fit
	if err := s.Set(ctx, "another", []byte("1"), ttl); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("set in a full store: %v", err)
	}
	_ = mem.Close()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("get from a closed store: %v", err)
	}
	wantMoved(t, "failures", moved(before, scrape(t)), map[string]float64{setSeconds: 1, setErrs: 1, getSeconds: 1, getErrs: 1})
	if len(failed) != 2 || failed[0] != "set" || failed[1] != "get" {
		t.Errorf("failures reported as %v, want [set get]", failed)
	}
}

// clockedStore is a store with its own clock, as Redis's is.
type clockedStore struct {
	*store.Memory
	at time.Time
}

func (c clockedStore) Now() time.Time { return c.at }

// TestMeasuredStoreKeepsClockAndBound: the wrapper tells the time of the
// store it wraps (the local clock when the store has none), and passes the
// memory store's bound through.
func TestMeasuredStoreKeepsClockAndBound(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	if got := store.ClockOf(MeasureStore(clockedStore{store.NewMemory(), at}, nil))(); !got.Equal(at) {
		t.Errorf("the wrapper's clock says %v, the store's %v", got, at)
	}
	mem := store.NewMemory()
	s := MeasureStore(mem, nil)
	if got := store.ClockOf(s)(); time.Since(got).Abs() > time.Minute {
		t.Errorf("without a store clock the wrapper says %v", got)
	}
	bounded, ok := s.(store.Bounded)
	if !ok || bounded.NearlyFull() {
		t.Fatalf("bound: %v %v", ok, ok && bounded.NearlyFull())
	}
	mem.SetMaxKeys(1)
	_ = s.Set(context.Background(), "k", []byte("1"), time.Minute)
	if !bounded.NearlyFull() {
		t.Error("the wrapper does not say the memory store is nearly full")
	}
}
