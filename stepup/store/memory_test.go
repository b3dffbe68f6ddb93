package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// remainingTTL returns how long key has left to live, or -1 when it is
// absent.
func (m *Memory) remainingTTL(key string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	e := m.live(key, now)
	if e == nil {
		return -1
	}
	return e.expires.Sub(now)
}

// entryCount is the number of entries held, expired or not.
func (m *Memory) entryCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func TestMemorySweepsExpiredKeysNobodyReads(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	for i := range 1000 {
		if err := m.Set(ctx, fmt.Sprintf("short%d", i), []byte("x"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "short keys expire", func() bool { return m.remainingTTL("short999") < 0 })
	// Writes sample the keys: the expired ones go, with bounded work per write.
	for i := range 1000 {
		if err := m.Set(ctx, fmt.Sprintf("long%d", i%10), []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.entryCount(); got != 10 {
		t.Fatalf("after 1000 writes %d entries are held, want the 10 live ones", got)
	}
}

// TestMemoryBoundRefusesNewKeysAndEvictsNothing: at MaxKeys a new key is
// refused (as unavailable, so callers fail closed), existing keys still
// change, expired keys make room, and NearlyFull says so from 90%.
func TestMemoryBoundRefusesNewKeysAndEvictsNothing(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	m.SetMaxKeys(100)
	for i := range 89 {
		if _, err := m.Incr(ctx, fmt.Sprintf("counter%d", i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if m.NearlyFull() {
		t.Fatal("89 of 100 keys is nearly full")
	}
	if err := m.Create(ctx, "marker89", []byte("1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if !m.NearlyFull() {
		t.Fatal("90 of 100 keys is not nearly full")
	}
	for i := 90; i < 100; i++ {
		if err := m.Set(ctx, fmt.Sprintf("k%d", i), []byte("1"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for name, write := range map[string]func() error{
		"Set":       func() error { return m.Set(ctx, "new", []byte("1"), time.Hour) },
		"Create":    func() error { return m.Create(ctx, "new", []byte("1"), time.Hour) },
		"Incr":      func() error { _, err := m.Incr(ctx, "new", time.Hour); return err },
		"AddMember": func() error { return m.AddMember(ctx, "new", "a", time.Hour) },
	} {
		if err := write(); !errors.Is(err, ErrFull) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s of a new key in a full store: %v", name, err)
		}
	}
	if n, err := m.Incr(ctx, "counter0", time.Hour); err != nil || n != 2 {
		t.Fatalf("an existing counter in a full store: %d, %v", n, err)
	}
	if got := m.entryCount(); got != 100 {
		t.Fatalf("%d keys held, want the 100 written (nothing evicted)", got)
	}
	if err := m.Set(ctx, "short", []byte("1"), time.Millisecond); err == nil {
		t.Fatal("a full store took another key")
	}
	if err := m.Delete(ctx, "k99"); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "short", []byte("1"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the short key expires", func() bool { return m.remainingTTL("short") < 0 })
	if err := m.Set(ctx, "after", []byte("1"), time.Hour); err != nil {
		t.Fatalf("an expired key did not make room: %v", err)
	}
}

func TestMemoryClosedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	if err := m.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	assertAllUnavailable(t, m)
}
