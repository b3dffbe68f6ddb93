package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// failTimeout is the per-operation deadline in failure tests: short, so that
// a hung server makes each call fail quickly.
const failTimeout = 200 * time.Millisecond

// dialStore returns a store on the server at addr with the given deadline.
func dialStore(t *testing.T, opts RedisOptions) *Redis {
	t.Helper()
	conn, err := DialRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return NewRedis(conn, newPrefix(t))
}

func TestRedisKilledServerIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Timeout: failTimeout})
	ctx := context.Background()
	// Warm the pool so that the calls below also cover broken pooled
	// connections, not only refused dials.
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	assertAllUnavailable(t, s)
	assertAllUnavailable(t, s) // again, now with an empty pool
}

func TestRedisHungServerIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Timeout: failTimeout})
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	srv.Freeze()
	defer srv.Thaw()
	// Had the deadline not been applied, the calls would block until the
	// test binary's timeout instead of failing.
	assertAllUnavailable(t, s)
}

func TestRedisPausedServerIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Timeout: failTimeout})
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// CLIENT PAUSE holds every command, CLIENT UNPAUSE included, for 3 s;
	// a call that waited for the pause to end would succeed, so an error
	// proves the deadline cut it. The cleanup kills the server (SIGKILL is
	// not subject to the pause).
	if _, err := redistest.Do(srv.Addr, "CLIENT", "PAUSE", "3000", "ALL"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Get":  second(s.Get(ctx, "k")),
		"Take": second(s.Take(ctx, "k")),
	} {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s on a paused server: %v, want ErrUnavailable", name, err)
		}
	}
}

func TestRedisReplicaWritesAreUnavailable(t *testing.T) {
	primary := redistest.Start(t, "--repl-diskless-sync-delay", "0")
	host, port, _ := strings.Cut(primary.Addr, ":")
	replica := redistest.Start(t, "--replicaof", host, port)
	s := dialStore(t, RedisOptions{Addrs: []string{replica.Addr}, Timeout: 5 * time.Second})
	ctx := context.Background()

	// Give the keys a value through the primary, so that scripts reach
	// their writes rather than stopping at "not found".
	for _, args := range [][]string{
		{"SET", s.prefix + "k", "v", "PX", "3600000"},
		{"SET", s.prefix + "n", "1", "PX", "3600000"},
		{"SADD", s.prefix + "s", "m"},
	} {
		if _, err := redistest.Do(primary.Addr, args...); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the replica has the keys", func() bool {
		m, err := s.Members(ctx, "s")
		return err == nil && len(m) == 1
	})
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get on a replica = %q, %v; reads work", got, err)
	}
	for name, err := range map[string]error{
		"Set":          s.Set(ctx, "k", []byte("v"), time.Hour),
		"Create":       s.Create(ctx, "k", []byte("v"), time.Hour),
		"Swap":         s.Swap(ctx, "k", []byte("v"), []byte("w"), time.Hour),
		"Take":         second(s.Take(ctx, "k")),
		"Incr":         second(s.Incr(ctx, "n", time.Hour)),
		"Delete":       s.Delete(ctx, "k"),
		"AddMember":    s.AddMember(ctx, "s", "m", time.Hour),
		"RemoveMember": s.RemoveMember(ctx, "s", "m"),
	} {
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "READONLY") {
			t.Errorf("%s on a replica: %v, want ErrUnavailable (READONLY)", name, err)
		}
	}
}

func TestRedisOutOfMemoryIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Timeout: 5 * time.Second})
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "s", "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"CONFIG", "SET", "maxmemory-policy", "noeviction"},
		{"CONFIG", "SET", "maxmemory", "1mb"},
	} {
		if _, err := redistest.Do(srv.Addr, args...); err != nil {
			t.Fatal(err)
		}
	}
	fillUntilOOM(t, srv.Addr)

	for name, err := range map[string]error{
		"Set":       s.Set(ctx, "k", []byte("w"), time.Hour),
		"Create":    s.Create(ctx, "new", []byte("v"), time.Hour),
		"Swap":      s.Swap(ctx, "k", []byte("v"), []byte("w"), time.Hour),
		"Incr":      second(s.Incr(ctx, "n", time.Hour)),
		"AddMember": s.AddMember(ctx, "s", "b", time.Hour),
	} {
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "OOM") {
			t.Errorf("%s on a full server: %v, want ErrUnavailable (OOM)", name, err)
		}
	}
	// Reads and removals still work, so a full store can drain.
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get on a full server = %q, %v", got, err)
	}
}

// fillUntilOOM writes filler keys until the server refuses with OOM.
func fillUntilOOM(t *testing.T, addr string) {
	t.Helper()
	filler := strings.Repeat("x", 64<<10)
	for i := range 1000 {
		_, err := redistest.Do(addr, "SET", "filler:"+strings.Repeat("f", i%7)+string(rune('a'+i%26))+itoa(i), filler)
		if err != nil {
			if strings.HasPrefix(err.Error(), "OOM") {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("server never ran out of memory")
}

// itoa is strconv.Itoa without the import noise in key building.
func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestRedisErrorsDoNotLeakPasswords(t *testing.T) {
	const good, bad = "correct-horse-battery", "wrong-staple-password"
	srv := redistest.Start(t, "--requirepass", good)
	ctx := context.Background()

	for name, opts := range map[string]RedisOptions{
		"field": {Addrs: []string{srv.Addr}, Password: bad},
		"url":   {URL: "redis://:" + bad + "@" + srv.Addr + "/0"},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := DialRedis(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Ping(ctx)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Ping with a wrong password: %v, want ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), bad) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}

	s := dialStore(t, RedisOptions{Addrs: []string{srv.Addr}, Password: good})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with the right password: %v", err)
	}
}

func TestRedisScrubRemovesSecrets(t *testing.T) {
	conn, err := DialRedis(RedisOptions{
		URL:      "redis://user:url-secret@127.0.0.1:1/0",
		Password: "field-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.fail(errors.New("dial redis://user:url-secret@host failed; AUTH field-secret rejected"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("fail() = %v, want ErrUnavailable", err)
	}
	for _, secret := range []string{"url-secret", "field-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("scrubbed error still contains %q: %v", secret, err)
		}
	}
}
