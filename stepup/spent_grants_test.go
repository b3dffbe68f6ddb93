package stepup

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// takesStore counts the Takes that reach a store.
type takesStore struct {
	store.Store
	takes atomic.Int64
}

func (s *takesStore) Take(ctx context.Context, key string) ([]byte, error) {
	s.takes.Add(1)
	return s.Store.Take(ctx, key)
}

// TestSpentGrantIsRefusedWithoutTheStore: an instance that spent a grant
// refuses it again without a store call; another instance sharing the
// store finds it gone with one Take, and then remembers it too.
func TestSpentGrantIsRefusedWithoutTheStore(t *testing.T) {
	ctx := context.Background()
	st := &takesStore{Store: store.NewMemory()}
	first, second := newHarness(t, st), newHarness(t, st)
	g := grantRecord{V: recordVersion, ID: newID(prefixGrant), UserID: newID(prefixUser), SessionID: newID(prefixSession),
		Scope: scopeSMS, Expires: first.clk.Now().Unix() + 300}
	if err := st.Create(ctx, grantKey(g.ID, g.UserID, g.SessionID, g.Scope), mustJSON(g), 300e9); err != nil {
		t.Fatal(err)
	}
	consume := func(h *harness) error {
		_, err := h.e.ConsumeGrant(ctx, g.ID, g.UserID, g.SessionID, g.Scope)
		return err
	}
	noErr(t, "the first use", consume(first))
	for i, step := range []struct {
		h     *harness
		takes int64
	}{{first, 0}, {second, 1}, {second, 0}, {first, 0}} {
		before := st.takes.Load()
		if err := consume(step.h); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("use %d again: %v, want ErrUnauthorized", i, err)
		}
		if got := st.takes.Load() - before; got != step.takes {
			t.Errorf("use %d again reached the store %d times, want %d", i, got, step.takes)
		}
	}
	// Another user's, session's or scope's key is never remembered for it.
	if err := consume(first); !errors.Is(err, ErrUnauthorized) {
		t.Fatal(err)
	}
	if _, err := first.e.ConsumeGrant(ctx, g.ID, newID(prefixUser), g.SessionID, g.Scope); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("another user's key: %v", err)
	}
}

// TestSpentGrantsForgetTheOldest: the memory is bounded.
func TestSpentGrantsForgetTheOldest(t *testing.T) {
	s := newSpentGrants(3)
	for i := range 5 {
		s.add(fmt.Sprint(i))
	}
	s.add("4") // already there: nothing forgotten
	for i, want := range []bool{false, false, true, true, true} {
		if got := s.has(fmt.Sprint(i)); got != want {
			t.Errorf("has(%d) = %v, want %v", i, got, want)
		}
	}
}
