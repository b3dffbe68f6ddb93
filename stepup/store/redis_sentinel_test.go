package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// sentinelTimeout is the per-operation deadline in the Sentinel tests: a
// dead master refuses connections at once, so it only has to be generous
// enough for the race detector once the new master answers.
const sentinelTimeout = time.Second

// sentinelStoreWithData returns a store on the Sentinel deployment d holding
// "k" = "v", set "s" = {"m"} and counter "n" = 1, and waits until the
// replica has all three, so that a failover cannot lose them.
func sentinelStoreWithData(t *testing.T, d *redistest.Sentinel) *Redis {
	t.Helper()
	s := dialStore(t, RedisOptions{Addrs: d.Addrs, MasterName: d.MasterName, Timeout: sentinelTimeout})
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "s", "m", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Incr(ctx, "n", time.Hour); err != nil || n != 1 {
		t.Fatalf("Incr = %d, %v; want 1", n, err)
	}
	waitUntil(t, "the replica has the keys", func() bool {
		k, e1 := redistest.Do(d.Replica.Addr, "GET", s.prefix+"k")
		m, e2 := redistest.Do(d.Replica.Addr, "SMEMBERS", s.prefix+"s")
		n, e3 := redistest.Do(d.Replica.Addr, "GET", s.prefix+"n")
		return errors.Join(e1, e2, e3) == nil && k == "v" && m == "m" && n == "1"
	})
	return s
}

// assertDataAfterFailover waits until the store answers through the new
// master, then checks that it kept the data and accepts writes (which a
// replica would refuse).
func assertDataAfterFailover(t *testing.T, s *Redis) {
	t.Helper()
	ctx := context.Background()
	waitUntil(t, "the store answers through the new master", func() bool {
		return s.Ping(ctx) == nil
	})
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get after failover = %q, %v; want v", got, err)
	}
	if got, err := s.Members(ctx, "s"); err != nil || !slices.Equal(got, []string{"m"}) {
		t.Fatalf("Members after failover = %v, %v; want [m]", got, err)
	}
	if n, err := s.Incr(ctx, "n", time.Hour); err != nil || n != 2 {
		t.Fatalf("Incr after failover = %d, %v; want 2", n, err)
	}
	if err := s.Swap(ctx, "k", []byte("v"), []byte("w"), time.Hour); err != nil {
		t.Fatalf("Swap after failover: %v", err)
	}
	if err := s.Create(ctx, "k", []byte("x"), time.Hour); !errors.Is(err, ErrExists) {
		t.Fatalf("Create of an existing key after failover: %v, want ErrExists", err)
	}
}

func TestRedisSentinelDeadMasterIsUnavailableUntilFailover(t *testing.T) {
	// Sentinel never fails over on its own within the test: the outage
	// lasts until Failover, so every call below meets the dead master.
	d := redistest.StartSentinel(t, redistest.SentinelOptions{DownAfter: time.Hour})
	s := sentinelStoreWithData(t, d)

	d.Master.Kill()
	assertAllUnavailable(t, s)
	assertAllUnavailable(t, s) // again, now with an empty pool
	if got, err := d.MasterAddr(); err != nil || got != d.Master.Addr {
		t.Fatalf("Sentinel reports master %q, %v; the outage checks needed the dead %s", got, err, d.Master.Addr)
	}

	d.Failover(t)
	assertDataAfterFailover(t, s)
}

func TestRedisSentinelAutomaticFailoverNeverLosesKeys(t *testing.T) {
	// Sentinel fails over by itself once the master has been down for a
	// second. Until then the store may fail, but it must never claim that
	// a stored key is missing, nor let Create overwrite it.
	d := redistest.StartSentinel(t, redistest.SentinelOptions{DownAfter: time.Second})
	s := sentinelStoreWithData(t, d)
	ctx := context.Background()

	d.Master.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		master, _ := d.MasterAddr()
		checks := map[string]error{
			"Create": s.Create(ctx, "k", []byte("x"), time.Hour),
			"Swap":   s.Swap(ctx, "k", []byte("v"), []byte("v"), time.Hour),
		}
		if got, err := s.Get(ctx, "k"); err != nil {
			checks["Get"] = err
		} else if string(got) != "v" {
			t.Fatalf("Get during failover = %q, want v", got)
		}
		if got, err := s.Members(ctx, "s"); err != nil {
			checks["Members"] = err
		} else if !slices.Equal(got, []string{"m"}) {
			t.Fatalf("Members during failover = %v, want [m]", got)
		}
		for name, err := range checks {
			ok := errors.Is(err, ErrUnavailable) || (name == "Create" && errors.Is(err, ErrExists)) || (name != "Create" && err == nil)
			if !ok || errors.Is(err, ErrNotFound) {
				t.Fatalf("%s during failover: %v, want ErrUnavailable or the stored data", name, err)
			}
		}
		if master == d.Replica.Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sentinel did not fail over (reports master %q)", master)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.WaitForMaster(t, d.Replica.Addr)
	assertDataAfterFailover(t, s)
}
