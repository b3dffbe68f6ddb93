package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// TestRedisLateCommandsDoNothing stalls Redis while a consuming command is
// in flight: the gateway gives up at its deadline (ErrUnavailable), and
// when Redis resumes and runs the command it must find the deadline passed
// and leave the state as it was, so that the refused request spent nothing.
func TestRedisLateCommandsDoNothing(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Timeout: failTimeout})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"grant", "flow"} {
		if err := s.Set(ctx, k, []byte("v1"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Incr(ctx, "tries", time.Hour); err != nil {
		t.Fatal(err)
	}
	// Each script once before the stall, so that Redis has it cached and
	// runs the stalled EVALSHA instead of answering NOSCRIPT.
	_ = s.Create(ctx, "warm", []byte("w"), time.Hour)
	_ = s.Swap(ctx, "warm", []byte("w"), []byte("w"), time.Hour)
	_, _ = s.Take(ctx, "warm")

	srv.Freeze()
	calls := map[string]func() error{
		"Take":   func() error { _, err := s.Take(ctx, "grant"); return err },
		"Swap":   func() error { return s.Swap(ctx, "flow", []byte("v1"), []byte("v2"), time.Hour) },
		"Incr":   func() error { _, err := s.Incr(ctx, "tries", time.Hour); return err },
		"Create": func() error { return s.Create(ctx, "marker", []byte("1"), time.Hour) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrUnavailable) {
			srv.Thaw()
			t.Fatalf("%s on a stalled redis: %v, want ErrUnavailable", name, err)
		}
	}
	srv.Thaw()
	time.Sleep(300 * time.Millisecond) // Redis runs what its sockets held

	if v, err := s.Get(ctx, "grant"); err != nil || string(v) != "v1" {
		t.Errorf("the grant after a late Take: %q, %v", v, err)
	}
	if v, err := s.Get(ctx, "flow"); err != nil || string(v) != "v1" {
		t.Errorf("the flow after a late Swap: %q, %v", v, err)
	}
	if n, err := s.Incr(ctx, "tries", time.Hour); err != nil || n != 2 {
		t.Errorf("the counter after a late Incr then one more: %d, %v (want 2)", n, err)
	}
	if _, err := s.Get(ctx, "marker"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the marker after a late Create: %v", err)
	}
}

// TestRedisStaleClockOffsetRecovers gives the store a wrong idea of Redis's
// clock (as after a clock step): guarded commands are refused as late,
// nothing changes, and the store measures the offset again and recovers.
func TestRedisStaleClockOffsetRecovers(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Timeout: failTimeout})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "grant", []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	s.conn.clock.offsetMillis.Store(-10 * 60 * 1000) // Redis "ten minutes behind"
	s.conn.clock.measuredAt.Store(time.Now().UnixNano())
	if _, err := s.Take(ctx, "grant"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Take with a stale offset: %v, want ErrUnavailable", err)
	}
	if v, err := s.Get(ctx, "grant"); err != nil || string(v) != "v1" {
		t.Fatalf("the refused Take changed the grant: %q, %v", v, err)
	}
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err = s.Take(ctx, "grant"); err == nil {
			return
		}
	}
	t.Fatalf("the store did not measure the offset again: %v", err)
}
