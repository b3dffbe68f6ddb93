package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// openFunc and ttlCheck are runConformance's helpers, for the suites of
// batches and spends.
type (
	openFunc func(t *testing.T) (Store, string)
	ttlCheck func(t *testing.T, prefix, key string, within time.Duration) time.Duration
)

// runBatchConformance checks that a batch does what its operations'
// methods do, keys of several Cluster slots included.
func runBatchConformance(t *testing.T, open openFunc, hasTTL ttlCheck) {
	ctx := context.Background()
	const long = time.Hour

	t.Run("BatchAsTheMethods", func(t *testing.T) {
		s, p := open(t)
		for _, k := range []string{"{a}get", "{b}swap", "{c}conflict", "{d}take", "{e}create"} {
			if err := s.Set(ctx, k, []byte("old"), long); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddMember(ctx, "{f}set", "m0", long); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Incr(ctx, "{g}decr", long); err != nil {
			t.Fatal(err)
		}
		ops := map[string]*Op{
			"get":            GetOp("{a}get"),
			"get missing":    GetOp("{h}missing"),
			"set":            SetOp("{i}set", []byte("new"), long),
			"create":         CreateOp("{j}create", []byte("new"), long),
			"create taken":   CreateOp("{e}create", []byte("new"), long),
			"swap":           SwapOp("{b}swap", []byte("old"), []byte("new"), long),
			"swap conflict":  SwapOp("{c}conflict", []byte("other"), []byte("new"), long),
			"swap missing":   SwapOp("{k}missing", []byte("old"), []byte("new"), long),
			"take":           TakeOp("{d}take"),
			"take missing":   TakeOp("{l}missing"),
			"incr":           IncrOp("{m}incr", long),
			"decr":           DecrOp("{g}decr"),
			"delete":         DeleteOp("{a}get"),
			"add member":     AddMemberOp("{f}set", "m1", long),
			"bad ttl create": CreateOp("{n}badttl", []byte("v"), 0),
		}
		order := []string{"get", "get missing", "set", "create", "create taken", "swap", "swap conflict", "swap missing",
			"take", "take missing", "incr", "decr", "delete", "add member", "bad ttl create"}
		list := make([]*Op, len(order))
		for i, name := range order {
			list[i] = ops[name]
		}
		Do(ctx, s, list...)
		wantErrs := map[string]error{"get missing": ErrNotFound, "create taken": ErrExists, "swap conflict": ErrConflict,
			"swap missing": ErrNotFound, "take missing": ErrNotFound, "bad ttl create": ErrInvalidTTL}
		for name, op := range ops {
			if want := wantErrs[name]; !errors.Is(op.Err, want) || (want == nil && op.Err != nil) {
				t.Errorf("%s: %v, want %v", name, op.Err, want)
			}
		}
		if string(ops["get"].Result) != "old" || string(ops["take"].Result) != "old" || ops["incr"].N != 1 {
			t.Errorf("get %q, take %q, incr %d", ops["get"].Result, ops["take"].Result, ops["incr"].N)
		}
		// What the batch left, read with the methods.
		for key, want := range map[string]string{"{i}set": "new", "{j}create": "new", "{e}create": "old", "{b}swap": "new",
			"{c}conflict": "old", "{m}incr": "1", "{g}decr": "0"} {
			if got, err := s.Get(ctx, key); err != nil || string(got) != want {
				t.Errorf("%s holds %q, %v; want %q", key, got, err, want)
			}
			hasTTL(t, p, key, long)
		}
		for _, key := range []string{"{a}get", "{d}take", "{k}missing", "{n}badttl"} {
			if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", key, err)
			}
		}
		if m, err := s.Members(ctx, "{f}set"); err != nil || fmt.Sprint(m) != "[m0 m1]" {
			t.Errorf("members %v, %v", m, err)
		}
	})

	t.Run("BatchRunsInOrderPerKey", func(t *testing.T) {
		s, _ := open(t)
		ops := []*Op{IncrOp("n", long), IncrOp("n", long), GetOp("n"), SetOp("n", []byte("7"), long), GetOp("n")}
		Do(ctx, s, ops...)
		if ops[0].N != 1 || ops[1].N != 2 || string(ops[2].Result) != "2" || string(ops[4].Result) != "7" {
			t.Fatalf("incr %d, %d; get %q; get after set %q", ops[0].N, ops[1].N, ops[2].Result, ops[4].Result)
		}
	})

	t.Run("BatchTakeIsSingleUse", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "{g}grant", []byte("g"), long); err != nil {
			t.Fatal(err)
		}
		assertOneWinner(t, race(20, func(i int) error {
			take := TakeOp("{g}grant")
			Do(ctx, s, GetOp(fmt.Sprintf("{o%d}other", i)), take)
			if take.Err == nil && !bytes.Equal(take.Result, []byte("g")) {
				return fmt.Errorf("took %q", take.Result)
			}
			return take.Err
		}), ErrNotFound)
	})

	t.Run("BatchCreateHasOneWinner", func(t *testing.T) {
		s, _ := open(t)
		assertOneWinner(t, race(20, func(i int) error {
			create := CreateOp("{c}k", []byte(fmt.Sprint(i)), long)
			Do(ctx, s, IncrOp("{n}count", long), create)
			return create.Err
		}), ErrExists)
	})

	t.Run("BatchOfCanceledContextIsUnavailable", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "k", []byte("v"), long); err != nil {
			t.Fatal(err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		ops := []*Op{GetOp("k"), IncrOp("{x}n", long), TakeOp("k"), SwapOp("k", []byte("v"), []byte("w"), long)}
		Do(canceled, s, ops...)
		for _, op := range ops {
			if !errors.Is(op.Err, ErrUnavailable) {
				t.Errorf("op %d on %s: %v, want ErrUnavailable", op.Kind, op.Key, op.Err)
			}
		}
		if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
			t.Errorf("k holds %q, %v after a canceled batch", got, err)
		}
	})
}

// runSpendConformance checks Spend's rules: counters in order, the lock
// after the first, a refusal counted only where it was refused.
func runSpendConformance(t *testing.T, open openFunc, hasTTL ttlCheck) {
	ctx := context.Background()
	const long = time.Hour
	value := func(t *testing.T, s Store, key string) string {
		t.Helper()
		v, err := s.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			return "absent"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	counters := func(limits ...int64) []Counter {
		out := make([]Counter, len(limits))
		for i, l := range limits {
			out[i] = Counter{Key: fmt.Sprintf("{s%d}count", i), Limit: l, Window: long}
		}
		return out
	}
	values := func(t *testing.T, s Store, cs []Counter) string {
		var out []string
		for _, c := range cs {
			out = append(out, value(t, s, c.Key))
		}
		return fmt.Sprint(out)
	}

	t.Run("SpendCountsInEveryCounter", func(t *testing.T) {
		s, p := open(t)
		cs := counters(3, 3, 3)
		for range 3 {
			spent, err := Spend(ctx, s, Lock{Key: "{l}lock", At: 5}, cs)
			if err != nil || !spent.OK() {
				t.Fatalf("spend: %+v, %v", spent, err)
			}
		}
		if got := values(t, s, cs); got != "[3 3 3]" {
			t.Fatalf("counters %s", got)
		}
		for _, c := range cs {
			hasTTL(t, p, c.Key, long)
		}
		if v := value(t, s, "{l}lock"); v != "absent" {
			t.Errorf("the lock was written: %s", v)
		}
	})

	t.Run("SpendRefusalCountsOnlyWhereRefused", func(t *testing.T) {
		s, _ := open(t)
		cs := counters(5, 1, 5)
		if spent, err := Spend(ctx, s, Lock{}, cs); err != nil || !spent.OK() {
			t.Fatalf("first spend: %+v, %v", spent, err)
		}
		spent, err := Spend(ctx, s, Lock{}, cs)
		if err != nil || spent.Refused != 1 || spent.Locked {
			t.Fatalf("second spend: %+v, %v; want refused by counter 1", spent, err)
		}
		if got := values(t, s, cs); got != "[1 2 1]" {
			t.Fatalf("counters %s, want [1 2 1]", got)
		}
		s, _ = open(t)
		first := counters(1)
		if spent, err := Spend(ctx, s, Lock{}, first); err != nil || !spent.OK() {
			t.Fatal(spent, err)
		}
		if spent, _ := Spend(ctx, s, Lock{}, first); spent.Refused != 0 {
			t.Fatalf("the first counter past its limit: %+v", spent)
		}
	})

	t.Run("SpendLocked", func(t *testing.T) {
		s, _ := open(t)
		cs := counters(5, 5)
		for range 2 {
			if _, err := s.Incr(ctx, "{l}lock", long); err != nil {
				t.Fatal(err)
			}
		}
		if spent, err := Spend(ctx, s, Lock{Key: "{l}lock", At: 3}, cs); err != nil || !spent.OK() {
			t.Fatalf("below the lock: %+v, %v", spent, err)
		}
		if _, err := s.Incr(ctx, "{l}lock", long); err != nil {
			t.Fatal(err)
		}
		spent, err := Spend(ctx, s, Lock{Key: "{l}lock", At: 3}, cs)
		if err != nil || !spent.Locked || spent.Refused != -1 {
			t.Fatalf("at the lock: %+v, %v", spent, err)
		}
		if got := values(t, s, cs); got != "[1 1]" {
			t.Fatalf("a locked spend changed the counters: %s", got)
		}
		// A first counter past its limit refuses before the lock is read.
		full := counters(1)
		if _, err := Spend(ctx, s, Lock{}, full); err != nil {
			t.Fatal(err)
		}
		if spent, _ := Spend(ctx, s, Lock{Key: "{l}lock", At: 3}, full); spent.Refused != 0 || spent.Locked {
			t.Fatalf("%+v, want refused by counter 0", spent)
		}
	})

	t.Run("SpendHasLimitWinners", func(t *testing.T) {
		s, _ := open(t)
		cs := counters(100, 7, 100)
		results := race(20, func(int) error {
			spent, err := Spend(ctx, s, Lock{Key: "{l}lock", At: 1}, cs)
			if err == nil && !spent.OK() {
				return ErrExists // stands for "refused"
			}
			return err
		})
		won := 0
		for _, err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrExists):
				t.Fatal(err)
			}
		}
		if won != 7 {
			t.Fatalf("%d of 20 spends passed a limit of 7", won)
		}
		if got := values(t, s, cs); got != "[7 20 7]" {
			t.Fatalf("counters %s, want [7 20 7]", got)
		}
	})

	t.Run("SpendsInABatch", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "{r}record", []byte("r"), long); err != nil {
			t.Fatal(err)
		}
		cs := counters(5, 1)
		if spent, err := Spend(ctx, s, Lock{}, cs); err != nil || !spent.OK() {
			t.Fatal(spent, err)
		}
		read, refused, passed := GetOp("{r}record"), SpendOp(Lock{Key: "{l}lock", At: 3}, cs),
			SpendOp(Lock{}, []Counter{{Key: "{p}count", Limit: 2, Window: long}})
		Do(ctx, s, read, refused, passed, IncrOp("{n}n", long))
		if string(read.Result) != "r" || read.Err != nil {
			t.Errorf("read %q, %v", read.Result, read.Err)
		}
		if refused.Err != nil || refused.Spent.Refused != 1 {
			t.Errorf("refused: %+v, %v", refused.Spent, refused.Err)
		}
		if passed.Err != nil || !passed.Spent.OK() {
			t.Errorf("passed: %+v, %v", passed.Spent, passed.Err)
		}
		if got := values(t, s, cs); got != "[1 2]" {
			t.Errorf("counters %s after a refused spend in a batch, want [1 2]", got)
		}
		if v := value(t, s, "{p}count"); v != "1" {
			t.Errorf("the passed spend's counter holds %s", v)
		}
	})

	t.Run("SpendInvalidWindowWritesNothing", func(t *testing.T) {
		s, _ := open(t)
		cs := []Counter{{Key: "{a}n", Limit: 5, Window: long}, {Key: "{b}n", Limit: 5}}
		if _, err := Spend(ctx, s, Lock{}, cs); !errors.Is(err, ErrInvalidTTL) {
			t.Fatalf("%v, want ErrInvalidTTL", err)
		}
		if got := values(t, s, cs); got != "[absent absent]" {
			t.Fatalf("counters %s", got)
		}
	})

	t.Run("SpendOfCanceledContextIsUnavailable", func(t *testing.T) {
		s, _ := open(t)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		cs := counters(5, 5)
		if _, err := Spend(canceled, s, Lock{Key: "{l}lock", At: 3}, cs); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%v, want ErrUnavailable", err)
		}
		if got := values(t, s, cs); got != "[absent absent]" {
			t.Fatalf("counters %s", got)
		}
	})
}

// runAttemptConformance checks AttemptOp: counted first, swapped only
// within the limit, one winner among concurrent right answers.
func runAttemptConformance(t *testing.T, open openFunc, hasTTL ttlCheck) {
	ctx := context.Background()
	const long = time.Hour
	attempt := func(s Store, value []byte) *Op {
		op := AttemptOp("{c}tries", long, 3, "{c}record", []byte("old"), value, long)
		Do(ctx, s, op)
		return op
	}

	t.Run("AttemptSwapsWithinTheLimit", func(t *testing.T) {
		s, p := open(t)
		if err := s.Set(ctx, "{c}record", []byte("old"), long); err != nil {
			t.Fatal(err)
		}
		if op := attempt(s, nil); op.Err != nil || op.N != 1 {
			t.Fatalf("counting only: %d, %v", op.N, op.Err)
		}
		if got, _ := s.Get(ctx, "{c}record"); string(got) != "old" {
			t.Fatalf("a count without a value swapped: %q", got)
		}
		if op := attempt(s, []byte("new")); op.Err != nil || op.N != 2 {
			t.Fatalf("second attempt: %d, %v", op.N, op.Err)
		}
		if got, _ := s.Get(ctx, "{c}record"); string(got) != "new" {
			t.Fatalf("record %q after a right attempt", got)
		}
		hasTTL(t, p, "{c}tries", long)
		hasTTL(t, p, "{c}record", long)
		if op := attempt(s, []byte("newer")); !errors.Is(op.Err, ErrConflict) || op.N != 3 {
			t.Fatalf("a stale old value: %d, %v; want ErrConflict", op.N, op.Err)
		}
	})

	t.Run("AttemptPastTheLimitSwapsNothing", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "{c}record", []byte("old"), long); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			attempt(s, nil)
		}
		if op := attempt(s, []byte("new")); op.Err != nil || op.N != 4 {
			t.Fatalf("fourth attempt: %d, %v", op.N, op.Err)
		}
		if got, _ := s.Get(ctx, "{c}record"); string(got) != "old" {
			t.Fatalf("an attempt past the limit swapped: %q", got)
		}
	})

	t.Run("AttemptOnAnAbsentRecord", func(t *testing.T) {
		s, _ := open(t)
		if op := attempt(s, []byte("new")); !errors.Is(op.Err, ErrNotFound) || op.N != 1 {
			t.Fatalf("%d, %v; want ErrNotFound", op.N, op.Err)
		}
		if _, err := s.Get(ctx, "{c}record"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the record was created: %v", err)
		}
	})

	t.Run("AttemptHasOneWinner", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "{c}record", []byte("old"), long); err != nil {
			t.Fatal(err)
		}
		results := race(20, func(i int) error {
			op := AttemptOp("{c}tries", long, 10, "{c}record", []byte("old"), []byte(fmt.Sprint(i)), long)
			Do(ctx, s, GetOp(fmt.Sprintf("{o%d}other", i)), op)
			if op.Err == nil && op.N > 10 {
				return ErrConflict // past the limit: nothing swapped
			}
			return op.Err
		})
		assertOneWinner(t, results, ErrConflict)
		if got, _ := s.Get(ctx, "{c}tries"); string(got) != "20" {
			t.Fatalf("tries %q, want 20", got)
		}
	})

	t.Run("AttemptInvalidTTLWritesNothing", func(t *testing.T) {
		s, _ := open(t)
		op := AttemptOp("{c}tries", 0, 3, "{c}record", []byte("old"), nil, long)
		Do(ctx, s, op)
		if !errors.Is(op.Err, ErrInvalidTTL) {
			t.Fatalf("%v, want ErrInvalidTTL", op.Err)
		}
		if _, err := s.Get(ctx, "{c}tries"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("tries written: %v", err)
		}
	})
}
