package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// ledgerBackend opens ledgers that share state when opened with the same
// prefix, each on its own connection where the backend has connections.
type ledgerBackend struct {
	open func(t *testing.T, prefix string) Ledger
	// ttl returns the remaining lifetime of the ledger's keys (Redis), or
	// nothing (memory).
	ttl func(t *testing.T, prefix string) []time.Duration
}

func TestLedgerMemory(t *testing.T) {
	ledgers := map[string]*MemoryLedger{}
	runLedgerConformance(t, ledgerBackend{
		open: func(t *testing.T, prefix string) Ledger {
			if ledgers[prefix] == nil {
				ledgers[prefix] = NewMemoryLedger(nil)
			}
			return ledgers[prefix]
		},
	})
}

func TestLedgerRedis(t *testing.T) {
	srv := redistest.Start(t)
	runLedgerConformance(t, redisLedgerBackend(t, RedisOptions{Addrs: []string{srv.Addr}}))
}

func TestLedgerRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	runLedgerConformance(t, redisLedgerBackend(t, RedisOptions{Addrs: c.Addrs, Cluster: true}))
}

func TestLedgerRedisSentinel(t *testing.T) {
	d := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 2})
	runLedgerConformance(t, redisLedgerBackend(t, RedisOptions{Addrs: d.Addrs, MasterName: d.MasterName}))
}

func redisLedgerBackend(t *testing.T, opts RedisOptions) ledgerBackend {
	opts.Timeout = 5 * time.Second
	raw := rawClient(t, opts)
	return ledgerBackend{
		open: func(t *testing.T, prefix string) Ledger {
			conn, err := DialRedis(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			return NewRedisLedger(conn, prefix, "revoked")
		},
		ttl: func(t *testing.T, prefix string) []time.Duration {
			var out []time.Duration
			for _, k := range []string{"meta", "log", "ends"} {
				d, err := raw.PTTL(context.Background(), prefix+"{revoked}:"+k).Result()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, d)
			}
			return out
		},
	}
}

func runLedgerConformance(t *testing.T, b ledgerBackend) {
	ctx := context.Background()
	open := func(t *testing.T) (Ledger, Ledger, string) {
		p := newPrefix(t)
		return b.open(t, p), b.open(t, p), p
	}
	members := func(p LedgerPage) []string {
		var out []string
		for _, r := range p.Records {
			out = append(out, r.Member)
		}
		return out
	}
	read := func(t *testing.T, l Ledger, from LedgerCursor, limit int) LedgerPage {
		t.Helper()
		p, err := l.Read(ctx, from, limit)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("Empty", func(t *testing.T) {
		l, _, _ := open(t)
		p := read(t, l, LedgerCursor{}, 10)
		if len(p.Records) != 0 || p.Reset || p.More || p.Next != (LedgerCursor{}) {
			t.Fatalf("empty ledger read %+v", p)
		}
	})

	t.Run("ReadsInWriteOrderFromTheCursor", func(t *testing.T) {
		w, r, _ := open(t)
		end := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		for _, m := range []string{"b", "a", "c"} {
			if err := w.Put(ctx, m, end); err != nil {
				t.Fatal(err)
			}
		}
		p := read(t, r, LedgerCursor{}, 10)
		if got := fmt.Sprint(members(p)); got != "[b a c]" || p.More || p.Reset {
			t.Fatalf("read %s (%+v), want [b a c]", got, p)
		}
		if !p.Records[0].Until.Equal(end) {
			t.Fatalf("until %v, want %v", p.Records[0].Until, end)
		}
		if again := read(t, r, p.Next, 10); len(again.Records) != 0 || again.Next != p.Next {
			t.Fatalf("read again from the cursor: %+v", again)
		}
		if err := w.Put(ctx, "d", end); err != nil {
			t.Fatal(err)
		}
		if next := read(t, r, p.Next, 10); fmt.Sprint(members(next)) != "[d]" {
			t.Fatalf("after one more write: %v", members(next))
		}
	})

	t.Run("KeepsTheLaterEnd", func(t *testing.T) {
		w, r, _ := open(t)
		short := time.Now().Add(time.Minute).Truncate(time.Millisecond)
		long := short.Add(time.Hour)
		for _, end := range []time.Time{short, long, short} {
			if err := w.Put(ctx, "m", end); err != nil {
				t.Fatal(err)
			}
		}
		p := read(t, r, LedgerCursor{}, 10)
		if len(p.Records) != 1 || !p.Records[0].Until.Equal(long) {
			t.Fatalf("read %+v, want m until %v once", p.Records, long)
		}
	})

	t.Run("RewrittenMemberIsReadAgainOnce", func(t *testing.T) {
		w, r, _ := open(t)
		end := time.Now().Add(time.Hour)
		for _, m := range []string{"a", "b"} {
			if err := w.Put(ctx, m, end); err != nil {
				t.Fatal(err)
			}
		}
		first := read(t, r, LedgerCursor{}, 10)
		if err := w.Put(ctx, "a", end.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if p := read(t, r, first.Next, 10); fmt.Sprint(members(p)) != "[a]" {
			t.Fatalf("after rewriting a: %v", members(p))
		}
		if p := read(t, r, LedgerCursor{}, 10); fmt.Sprint(members(p)) != "[b a]" {
			t.Fatalf("from the start: %v, want [b a]", members(p))
		}
	})

	t.Run("Pages", func(t *testing.T) {
		w, r, _ := open(t)
		end := time.Now().Add(time.Hour)
		for i := range 5 {
			if err := w.Put(ctx, fmt.Sprint("m", i), end); err != nil {
				t.Fatal(err)
			}
		}
		var all []string
		cur := LedgerCursor{}
		for range 10 {
			p := read(t, r, cur, 2)
			all = append(all, members(p)...)
			cur = p.Next
			if !p.More {
				break
			}
		}
		if fmt.Sprint(all) != "[m0 m1 m2 m3 m4]" {
			t.Fatalf("paged read %v", all)
		}
	})

	t.Run("PastEndRecordsNothing", func(t *testing.T) {
		w, r, _ := open(t)
		if err := w.Put(ctx, "old", time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if p := read(t, r, LedgerCursor{}, 10); len(p.Records) != 0 {
			t.Fatalf("an ended member was recorded: %+v", p)
		}
	})

	t.Run("EndedMembersAreForgotten", func(t *testing.T) {
		w, r, _ := open(t)
		if err := w.Put(ctx, "brief", time.Now().Add(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, "long", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		if err := w.Put(ctx, "later", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if p := read(t, r, LedgerCursor{}, 10); fmt.Sprint(members(p)) != "[long later]" {
			t.Fatalf("after brief ended: %v", members(p))
		}
	})

	t.Run("EveryKeyExpiresWithTheLatestEnd", func(t *testing.T) {
		if b.ttl == nil {
			t.Skip("no keys")
		}
		w, _, p := open(t)
		if err := w.Put(ctx, "a", time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, "b", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, "c", time.Now().Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		for i, d := range b.ttl(t, p) {
			if d < 59*time.Minute || d > time.Hour {
				t.Fatalf("key %d: TTL %v, want about an hour", i, d)
			}
		}
	})

	t.Run("AnotherEpochReadsFromTheStart", func(t *testing.T) {
		w, r, _ := open(t)
		if err := w.Put(ctx, "a", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		p := read(t, r, LedgerCursor{Epoch: "gone", Seq: 99}, 10)
		if !p.Reset || fmt.Sprint(members(p)) != "[a]" || p.Next.Epoch == "gone" {
			t.Fatalf("read from another epoch: %+v", p)
		}
		// An emptied ledger: a reader's cursor of the old epoch resets.
		empty, _, _ := open(t)
		p = read(t, empty, LedgerCursor{Epoch: "gone", Seq: 3}, 10)
		if !p.Reset || len(p.Records) != 0 || p.Next != (LedgerCursor{}) {
			t.Fatalf("read of an empty ledger with an old cursor: %+v", p)
		}
	})

	t.Run("WatchWakesOtherReaders", func(t *testing.T) {
		w, r, _ := open(t)
		wctx, cancel := context.WithCancel(ctx)
		var wakes atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.Watch(wctx, func() { wakes.Add(1) })
		}()
		defer func() { cancel(); <-done }()
		waitFor(t, func() bool { return wakes.Load() >= 1 }, "the wake-up of a new watch")
		before := wakes.Load()
		if err := w.Put(ctx, "a", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return wakes.Load() > before }, "a wake-up after a write")
	})
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5s", what)
		}
	}
}
