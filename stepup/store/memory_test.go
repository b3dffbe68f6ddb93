package store

import (
	"context"
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
	for i := range 100 {
		if err := m.Set(ctx, fmt.Sprintf("short%d", i), []byte("x"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "short keys expire", func() bool { return m.remainingTTL("short99") < 0 })
	for i := range sweepEvery {
		if err := m.Set(ctx, fmt.Sprintf("long%d", i%10), []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.entryCount(); got != 10 {
		t.Fatalf("after a sweep %d entries are held, want the 10 live ones", got)
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
