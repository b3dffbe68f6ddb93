package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// backend is one Store implementation under test.
type backend struct {
	// open returns a store; stores opened with the same prefix share keys.
	open func(t *testing.T, prefix string) Store
	// ttl returns the remaining lifetime of key in the stores opened with
	// prefix: positive if it expires, -1 if it is absent, -2 if it exists
	// without expiry (which must never happen).
	ttl func(t *testing.T, prefix, key string) time.Duration
}

func TestConformanceMemory(t *testing.T) {
	var mu sync.Mutex
	stores := map[string]*Memory{}
	memFor := func(prefix string) *Memory {
		mu.Lock()
		defer mu.Unlock()
		if stores[prefix] == nil {
			stores[prefix] = NewMemory()
		}
		return stores[prefix]
	}
	runConformance(t, backend{
		open: func(t *testing.T, prefix string) Store { return memFor(prefix) },
		ttl: func(t *testing.T, prefix, key string) time.Duration {
			return memFor(prefix).remainingTTL(key)
		},
	})
}

func TestConformanceRedis(t *testing.T) {
	srv := redistest.Start(t)
	runConformance(t, redisBackend(t, RedisOptions{Addrs: []string{srv.Addr}}))
}

func TestConformanceRedisURL(t *testing.T) {
	srv := redistest.Start(t)
	runConformance(t, redisBackend(t, RedisOptions{URL: "redis://" + srv.Addr + "/3"}))
}

func TestConformanceRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	runConformance(t, redisBackend(t, RedisOptions{Addrs: c.Addrs, Cluster: true}))
}

func TestConformanceRedisSentinel(t *testing.T) {
	d := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 2})
	runConformance(t, redisBackend(t, RedisOptions{Addrs: d.Addrs, MasterName: d.MasterName}))
}

// redisBackend dials opts for the stores and a raw go-redis client (same
// deployment) for inspecting TTLs.
func redisBackend(t *testing.T, opts RedisOptions) backend {
	t.Helper()
	opts.Timeout = 5 * time.Second // generous: the race detector slows things down
	conn, err := DialRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, opts)
	return backend{
		open: func(t *testing.T, prefix string) Store { return NewRedis(conn, prefix) },
		ttl: func(t *testing.T, prefix, key string) time.Duration {
			d, err := raw.PTTL(context.Background(), prefix+key).Result()
			if err != nil {
				t.Fatalf("PTTL: %v", err)
			}
			// go-redis reports -1 and -2 from Redis as nanoseconds.
			switch d {
			case -2:
				return -1
			case -1:
				return -2
			}
			return d
		},
	}
}

// rawClient is a plain go-redis client to the deployment opts describe.
func rawClient(t testing.TB, opts RedisOptions) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if opts.URL != "" {
		o, err := redis.ParseURL(opts.URL)
		if err != nil {
			t.Fatal(err)
		}
		c = redis.NewClient(o)
	} else {
		c = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:         opts.Addrs,
			IsClusterMode: opts.Cluster,
			MasterName:    opts.MasterName,
		})
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newPrefix returns a prefix no other test uses, so tests sharing a server
// never see each other's keys.
func newPrefix(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "test" + hex.EncodeToString(b) + ":"
}

// runConformance checks every Store behaviour the engine relies on.
func runConformance(t *testing.T, b backend) {
	ctx := context.Background()
	const long = time.Hour

	// open returns a fresh store and its prefix.
	open := func(t *testing.T) (Store, string) {
		p := newPrefix(t)
		return b.open(t, p), p
	}
	// hasTTL asserts that key expires, and no later than within.
	hasTTL := func(t *testing.T, prefix, key string, within time.Duration) time.Duration {
		t.Helper()
		d := b.ttl(t, prefix, key)
		if d <= 0 || d > within {
			t.Fatalf("key %q: TTL %v, want in (0, %v]", key, d, within)
		}
		return d
	}

	t.Run("Ping", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("GetSet", func(t *testing.T) {
		s, p := open(t)
		if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
		}
		for _, v := range [][]byte{[]byte(`{"v":1}`), {0, 1, 0xff, '\r', '\n'}, {}} {
			if err := s.Set(ctx, "k", v, long); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "k")
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("Get = %q, %v; want %q", got, err, v)
			}
			hasTTL(t, p, "k", long)
		}
	})

	t.Run("ValuesAreCopied", func(t *testing.T) {
		s, _ := open(t)
		v := []byte("original")
		if err := s.Set(ctx, "k", v, long); err != nil {
			t.Fatal(err)
		}
		copy(v, "CHANGED!")
		got, err := s.Get(ctx, "k")
		if err != nil || string(got) != "original" {
			t.Fatalf("after changing the caller's slice Get = %q, %v", got, err)
		}
		copy(got, "CHANGED!")
		again, _ := s.Get(ctx, "k")
		if string(again) != "original" {
			t.Fatalf("after changing a returned slice Get = %q", again)
		}
	})

	t.Run("Create", func(t *testing.T) {
		s, p := open(t)
		if err := s.Create(ctx, "k", []byte("first"), long); err != nil {
			t.Fatal(err)
		}
		hasTTL(t, p, "k", long)
		if err := s.Create(ctx, "k", []byte("second"), long); !errors.Is(err, ErrExists) {
			t.Fatalf("second Create: %v, want ErrExists", err)
		}
		if got, _ := s.Get(ctx, "k"); string(got) != "first" {
			t.Fatalf("Create overwrote: %q", got)
		}
	})

	t.Run("Swap", func(t *testing.T) {
		s, p := open(t)
		if err := s.Swap(ctx, "k", []byte("a"), []byte("b"), long); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Swap of a missing key: %v, want ErrNotFound", err)
		}
		if b.ttl(t, p, "k") != -1 {
			t.Fatal("Swap of a missing key created it")
		}
		if err := s.Set(ctx, "k", []byte("a"), long); err != nil {
			t.Fatal(err)
		}
		if err := s.Swap(ctx, "k", []byte("x"), []byte("b"), long); !errors.Is(err, ErrConflict) {
			t.Fatalf("Swap with a stale value: %v, want ErrConflict", err)
		}
		if err := s.Swap(ctx, "k", []byte("a\x00"), []byte("b"), long); !errors.Is(err, ErrConflict) {
			t.Fatalf("Swap with a longer value: %v, want ErrConflict", err)
		}
		if got, _ := s.Get(ctx, "k"); string(got) != "a" {
			t.Fatalf("failed Swap changed the value to %q", got)
		}
		if err := s.Swap(ctx, "k", []byte("a"), []byte("b"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, "k"); string(got) != "b" {
			t.Fatalf("after Swap Get = %q, want b", got)
		}
		hasTTL(t, p, "k", time.Minute) // reset down from an hour
		if err := s.Swap(ctx, "k", []byte("b"), []byte("c"), 2*long); err != nil {
			t.Fatal(err)
		}
		if d := hasTTL(t, p, "k", 2*long); d <= long {
			t.Fatalf("Swap did not reset the TTL up: %v", d)
		}
	})

	t.Run("Take", func(t *testing.T) {
		s, p := open(t)
		if _, err := s.Take(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Take of a missing key: %v, want ErrNotFound", err)
		}
		if err := s.Set(ctx, "k", []byte("once"), long); err != nil {
			t.Fatal(err)
		}
		got, err := s.Take(ctx, "k")
		if err != nil || string(got) != "once" {
			t.Fatalf("Take = %q, %v", got, err)
		}
		if b.ttl(t, p, "k") != -1 {
			t.Fatal("Take left the key behind")
		}
		if _, err := s.Take(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Take: %v, want ErrNotFound", err)
		}
	})

	t.Run("Incr", func(t *testing.T) {
		s, p := open(t)
		for want := int64(1); want <= 3; want++ {
			got, err := s.Incr(ctx, "n", time.Minute)
			if err != nil || got != want {
				t.Fatalf("Incr = %d, %v; want %d", got, err, want)
			}
		}
		if got, err := s.Get(ctx, "n"); err != nil || string(got) != "3" {
			t.Fatalf("Get of a counter = %q, %v; want 3", got, err)
		}
		hasTTL(t, p, "n", time.Minute)
		if _, err := s.Incr(ctx, "n", long); err != nil {
			t.Fatal(err)
		}
		hasTTL(t, p, "n", time.Minute) // not extended to an hour
	})

	t.Run("Decr", func(t *testing.T) {
		s, p := open(t)
		if err := s.Decr(ctx, "absent"); err != nil {
			t.Fatalf("Decr of an absent counter: %v", err)
		}
		if _, err := s.Get(ctx, "absent"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Decr created a key: %v", err)
		}
		for range 2 {
			if _, err := s.Incr(ctx, "n", time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []string{"1", "0", "0"} {
			if err := s.Decr(ctx, "n"); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, "n"); err != nil || string(got) != want {
				t.Fatalf("after Decr = %q, %v; want %s", got, err, want)
			}
		}
		hasTTL(t, p, "n", time.Minute)
		if n, err := s.Incr(ctx, "n", long); err != nil || n != 1 {
			t.Fatalf("Incr after Decr = %d, %v", n, err)
		}
		if err := s.Set(ctx, "k", []byte("text"), long); err != nil {
			t.Fatal(err)
		}
		if err := s.Decr(ctx, "k"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Decr of text: %v, want ErrUnavailable", err)
		}
	})

	t.Run("IncrOfNonCounterFails", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "k", []byte("text"), long); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Incr(ctx, "k", long); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Incr of text: %v, want ErrUnavailable", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s, p := open(t)
		keys := []string{"a", "b", "{ses_1}:c", "{ses_2}:d", "e"}
		for _, k := range keys {
			if err := s.Set(ctx, k, []byte("v"), long); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddMember(ctx, "set", "m", long); err != nil {
			t.Fatal(err)
		}
		// Keys in many cluster slots, one of them a set, one missing.
		if err := s.Delete(ctx, "a", "{ses_1}:c", "{ses_2}:d", "set", "missing"); err != nil {
			t.Fatal(err)
		}
		for k, wantLive := range map[string]bool{"a": false, "b": true, "{ses_1}:c": false, "{ses_2}:d": false, "e": true, "set": false} {
			if live := b.ttl(t, p, k) != -1; live != wantLive {
				t.Errorf("after Delete key %q live = %v, want %v", k, live, wantLive)
			}
		}
		if err := s.Delete(ctx); err != nil {
			t.Fatalf("Delete of no keys: %v", err)
		}
	})

	t.Run("Sets", func(t *testing.T) {
		s, p := open(t)
		if got, err := s.Members(ctx, "s"); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Members of a missing set = %#v, %v; want empty", got, err)
		}
		for _, m := range []string{"b", "a", "c", "a"} {
			if err := s.AddMember(ctx, "s", m, long); err != nil {
				t.Fatal(err)
			}
		}
		hasTTL(t, p, "s", long)
		if got, err := s.Members(ctx, "s"); err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("Members = %v, %v", got, err)
		}
		if err := s.RemoveMember(ctx, "s", "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveMember(ctx, "s", "absent"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveMember(ctx, "missing-set", "a"); err != nil {
			t.Fatalf("RemoveMember on a missing set: %v", err)
		}
		if got, _ := s.Members(ctx, "s"); !slices.Equal(got, []string{"a", "c"}) {
			t.Fatalf("after RemoveMember Members = %v", got)
		}
		hasTTL(t, p, "s", long)
		for _, m := range []string{"a", "c"} {
			if err := s.RemoveMember(ctx, "s", m); err != nil {
				t.Fatal(err)
			}
		}
		if b.ttl(t, p, "s") != -1 {
			t.Fatal("an emptied set is still stored")
		}
	})

	t.Run("AddMemberExtendsToTheMax", func(t *testing.T) {
		s, p := open(t)
		if err := s.AddMember(ctx, "s", "a", long); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, "s", "b", time.Minute); err != nil {
			t.Fatal(err)
		}
		if d := hasTTL(t, p, "s", long); d <= time.Minute {
			t.Fatalf("a shorter AddMember cut the TTL to %v", d)
		}
		if err := s.AddMember(ctx, "s", "c", 2*long); err != nil {
			t.Fatal(err)
		}
		if d := hasTTL(t, p, "s", 2*long); d <= long {
			t.Fatalf("a longer AddMember did not extend the TTL: %v", d)
		}
	})

	t.Run("WrongKindFailsClosed", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "str", []byte("v"), long); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, "set", "m", long); err != nil {
			t.Fatal(err)
		}
		checks := map[string]error{
			"Get(set)":          second(s.Get(ctx, "set")),
			"Take(set)":         second(s.Take(ctx, "set")),
			"Swap(set)":         s.Swap(ctx, "set", []byte("m"), []byte("x"), long),
			"Incr(set)":         second(s.Incr(ctx, "set", long)),
			"AddMember(str)":    s.AddMember(ctx, "str", "m", long),
			"RemoveMember(str)": s.RemoveMember(ctx, "str", "m"),
			"Members(str)":      second(s.Members(ctx, "str")),
		}
		for name, err := range checks {
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %v, want ErrUnavailable", name, err)
			}
		}
	})

	t.Run("InvalidTTLWritesNothing", func(t *testing.T) {
		s, p := open(t)
		if err := s.Set(ctx, "old", []byte("a"), long); err != nil {
			t.Fatal(err)
		}
		for _, ttl := range []time.Duration{0, -time.Second} {
			checks := map[string]error{
				"Set":       s.Set(ctx, "k", []byte("v"), ttl),
				"Create":    s.Create(ctx, "k", []byte("v"), ttl),
				"Swap":      s.Swap(ctx, "old", []byte("a"), []byte("b"), ttl),
				"Incr":      second(s.Incr(ctx, "k", ttl)),
				"AddMember": s.AddMember(ctx, "k", "m", ttl),
			}
			for name, err := range checks {
				if !errors.Is(err, ErrInvalidTTL) {
					t.Errorf("%s with TTL %v: %v, want ErrInvalidTTL", name, ttl, err)
				}
			}
			if b.ttl(t, p, "k") != -1 {
				t.Fatalf("a write with TTL %v stored the key", ttl)
			}
			if got, _ := s.Get(ctx, "old"); string(got) != "a" {
				t.Fatalf("Swap with TTL %v changed the value to %q", ttl, got)
			}
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s, _ := open(t)
		const short = 50 * time.Millisecond
		if err := s.Set(ctx, "str", []byte("v"), short); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, "created", []byte("v"), short); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, "set", "m", short); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Incr(ctx, "n", short); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "keys expire", func() bool {
			_, e1 := s.Get(ctx, "str")
			_, e2 := s.Get(ctx, "created")
			_, e3 := s.Get(ctx, "n")
			m, e4 := s.Members(ctx, "set")
			return errors.Is(e1, ErrNotFound) && errors.Is(e2, ErrNotFound) &&
				errors.Is(e3, ErrNotFound) && e4 == nil && len(m) == 0
		})
		if n, err := s.Incr(ctx, "n", long); err != nil || n != 1 {
			t.Fatalf("Incr after expiry = %d, %v; want a new counter at 1", n, err)
		}
		if err := s.Create(ctx, "created", []byte("again"), long); err != nil {
			t.Fatalf("Create after expiry: %v", err)
		}
	})

	t.Run("PrefixSeparatesStores", func(t *testing.T) {
		s1, p := open(t)
		s2, _ := open(t)
		same := b.open(t, p)
		if err := s1.Set(ctx, "k", []byte("one"), long); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another prefix sees the key: %v", err)
		}
		if err := s2.Set(ctx, "k", []byte("two"), long); err != nil {
			t.Fatal(err)
		}
		if got, _ := same.Get(ctx, "k"); string(got) != "one" {
			t.Fatalf("same prefix reads %q, want one", got)
		}
	})

	t.Run("HashTaggedKeys", func(t *testing.T) {
		s, p := open(t)
		k1, k2 := "{ses_abc}:session", "{ses_abc}:grants"
		if err := s.Create(ctx, k1, []byte("s"), long); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, k2, "g1", long); err != nil {
			t.Fatal(err)
		}
		if err := s.Swap(ctx, k1, []byte("s"), []byte("s2"), long); err != nil {
			t.Fatal(err)
		}
		hasTTL(t, p, k1, long)
		hasTTL(t, p, k2, long)
		if err := s.Delete(ctx, k1, k2); err != nil {
			t.Fatal(err)
		}
		if b.ttl(t, p, k1) != -1 || b.ttl(t, p, k2) != -1 {
			t.Fatal("Delete left hash-tagged keys")
		}
	})

	t.Run("TakeIsSingleUse", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "grant", []byte("g"), long); err != nil {
			t.Fatal(err)
		}
		results := race(50, func(int) error { _, err := s.Take(ctx, "grant"); return err })
		assertOneWinner(t, results, ErrNotFound)
	})

	t.Run("CreateHasOneWinner", func(t *testing.T) {
		s, _ := open(t)
		results := race(50, func(i int) error {
			return s.Create(ctx, "k", fmt.Appendf(nil, "%d", i), long)
		})
		assertOneWinner(t, results, ErrExists)
	})

	t.Run("SwapHasOneWinner", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "k", []byte("v0"), long); err != nil {
			t.Fatal(err)
		}
		results := race(50, func(i int) error {
			return s.Swap(ctx, "k", []byte("v0"), fmt.Appendf(nil, "v%d", i+1), long)
		})
		assertOneWinner(t, results, ErrConflict)
	})

	t.Run("IncrCountsEveryCall", func(t *testing.T) {
		s, _ := open(t)
		race(50, func(int) error { _, err := s.Incr(ctx, "n", long); return err })
		if got, err := s.Get(ctx, "n"); err != nil || string(got) != "50" {
			t.Fatalf("after 50 concurrent Incr the counter is %q, %v", got, err)
		}
	})

	t.Run("CanceledContextIsUnavailable", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Set(ctx, "k", []byte("v"), long); err != nil {
			t.Fatal(err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		assertAllUnavailableCtx(t, s, canceled)
	})

	runBatchConformance(t, open, hasTTL)
	runSpendConformance(t, open, hasTTL)
	runAttemptConformance(t, open, hasTTL)
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }

// race runs f n times concurrently, released together, and returns the
// errors in call order.
func race(n int, f func(i int) error) []error {
	results := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return results
}

// assertOneWinner checks that exactly one call succeeded and every other one
// failed with loser.
func assertOneWinner(t *testing.T, results []error, loser error) {
	t.Helper()
	winners := 0
	for _, err := range results {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, loser):
			t.Errorf("unexpected error %v, want nil or %v", err, loser)
		}
	}
	if winners != 1 {
		t.Fatalf("%d winners out of %d, want exactly 1", winners, len(results))
	}
}

// waitUntil polls cond until it holds, failing the test after a generous
// deadline. It waits for events such as expiry; it does not measure time.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertAllUnavailable checks that every method fails with ErrUnavailable
// (never ErrNotFound, never success).
func assertAllUnavailable(t *testing.T, s Store) {
	t.Helper()
	assertAllUnavailableCtx(t, s, context.Background())
}

// assertAllUnavailableCtx is assertAllUnavailable with a given context.
func assertAllUnavailableCtx(t *testing.T, s Store, ctx context.Context) {
	t.Helper()
	for name, err := range callEveryMethod(ctx, s) {
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
	}
}

// callEveryMethod calls each Store method once on key "k" and returns the
// errors by method name.
func callEveryMethod(ctx context.Context, s Store) map[string]error {
	const ttl = time.Hour
	return map[string]error{
		"Get":          second(s.Get(ctx, "k")),
		"Set":          s.Set(ctx, "k", []byte("v"), ttl),
		"Create":       s.Create(ctx, "new", []byte("v"), ttl),
		"Swap":         s.Swap(ctx, "k", []byte("v"), []byte("w"), ttl),
		"Take":         second(s.Take(ctx, "k")),
		"Incr":         second(s.Incr(ctx, "n", ttl)),
		"Delete":       s.Delete(ctx, "k", "n"),
		"AddMember":    s.AddMember(ctx, "s", "m", ttl),
		"RemoveMember": s.RemoveMember(ctx, "s", "m"),
		"Members":      second(s.Members(ctx, "s")),
		"Ping":         s.Ping(ctx),
		"Spend": second(Spend(ctx, s, Lock{Key: "l", At: 5},
			[]Counter{{Key: "c1", Limit: 10, Window: ttl}, {Key: "{x}c2", Limit: 10, Window: ttl}})),
		"Batch Get":  batchErr(ctx, s, GetOp("k")),
		"Batch Set":  batchErr(ctx, s, SetOp("k", []byte("v"), ttl)),
		"Batch Swap": batchErr(ctx, s, SwapOp("k", []byte("v"), []byte("w"), ttl)),
		"Batch Take": batchErr(ctx, s, TakeOp("k")),
		"Batch Incr": batchErr(ctx, s, IncrOp("n", ttl)),
		"Attempt":    batchErr(ctx, s, AttemptOp("{k}n", ttl, 5, "{k}", []byte("v"), []byte("w"), ttl)),
	}
}

// batchErr runs op in a batch beside a Get of another slot's key, and
// returns op's error.
func batchErr(ctx context.Context, s Store, op *Op) error {
	Do(ctx, s, GetOp("{other}k"), op)
	return op.Err
}
