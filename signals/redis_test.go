package signals

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// TestReplayRefusedBySecondInstance runs two receivers (two gateway
// instances) on one real redis-server: a SET accepted by one is a
// duplicate to the other, and of one SET pushed to both at once, exactly
// one accepts it.
func TestReplayRefusedBySecondInstance(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	open := func() store.Store { return openRedisStore(t, srv.Addr) }
	key := newECKey(t, "k")
	keys := keySource(t, key)
	one, two := newTestReceiver(t, open(), keys), newTestReceiver(t, open(), keys)

	body := key.sign(claims(EventSessionRevoked, map[string]any{}, emailSubject("a@example.com")))
	if _, err := one.Receive(ctx, push(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Receive(ctx, push(body)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second instance: %v", err)
	}

	body = key.sign(claims(EventAccountDisabled, map[string]any{}, emailSubject("b@example.com")))
	var accepted, duplicates int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := one
			if i%2 == 1 {
				r = two
			}
			_, err := r.Receive(ctx, push(body))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, ErrDuplicate):
				duplicates++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if accepted != 1 || duplicates != 19 {
		t.Fatalf("%d accepted, %d duplicates", accepted, duplicates)
	}
}

// TestVerificationAskedByOneInstanceComesBackToAnother: the state one
// instance asked for is in the shared store, so the instance the
// transmitter pushes the verification event to accepts it, once.
func TestVerificationAskedByOneInstanceComesBackToAnother(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	open := func() store.Store { return openRedisStore(t, srv.Addr) }
	f := newFakeTransmitter(t)
	key := newECKey(t, "k")
	one, two := twoTransmitters(t, open(), key), twoTransmitters(t, open(), key)
	if _, err := one.RequestVerification(ctx, f.api(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	state := f.lastState()
	if a, err := two.Receive(ctx, push(verificationSET(key, state))); err != nil || a.Decision.State != state {
		t.Fatalf("the second instance: %+v %v", a, err)
	}
	for _, r := range []*Receiver{one, two} {
		if _, err := r.Receive(ctx, push(verificationSET(key, state))); !errors.Is(err, ErrState) {
			t.Fatalf("the state again: %v", err)
		}
	}
}

// openRedisStore is one instance's store on the shared redis-server at
// addr: each call a connection of its own, closed when the test ends.
func openRedisStore(t *testing.T, addr string) store.Store {
	t.Helper()
	conn, err := store.DialRedis(store.RedisOptions{Addrs: []string{addr}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return store.NewRedis(conn, "test:")
}
