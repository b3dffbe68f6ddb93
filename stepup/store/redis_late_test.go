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

// TestRedisWrongScriptClockIsCorrected gives the store a wrong idea of the
// clock its scripts read (as after a clock step, or a TIME answer that the
// scripts' own clock contradicts): ten minutes behind, the deadline looks
// passed to the script; ten minutes ahead, it looks far too lenient. Each
// time the script refuses, does nothing, and answers the time it read; the
// instance's own clock says the deadline has not passed, so the store
// corrects the offset and sends the command once more. The command takes
// effect exactly once.
func TestRedisWrongScriptClockIsCorrected(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Timeout: failTimeout})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
		if _, err := s.Incr(ctx, "counter", time.Hour); err != nil {
			t.Fatal(err)
		}
		s.conn.clock.script.Store(int64(wrong))
		n, err := s.Incr(ctx, "counter", time.Hour)
		if err != nil {
			t.Fatalf("Incr with the scripts' clock %v off: %v", wrong, err)
		}
		if n != 2 {
			t.Fatalf("Incr with the scripts' clock %v off counted to %d, want 2 (once, not twice)", wrong, n)
		}
		corrected := time.Duration(s.conn.clock.script.Load())
		if corrected > time.Second || corrected < -time.Second {
			t.Fatalf("the scripts' offset after the correction: %v", corrected)
		}
		if err := s.Delete(ctx, "counter"); err != nil {
			t.Fatal(err)
		}
	}
}
