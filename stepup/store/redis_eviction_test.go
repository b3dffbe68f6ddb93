package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// TestRedisEvictionPolicyIsChecked: a Redis that may evict keys is named
// as such; noeviction (Redis's default) passes; a Cluster is checked on
// every master.
func TestRedisEvictionPolicyIsChecked(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		policy string
		ok     bool
	}{
		{"noeviction", true},
		{"allkeys-lru", false},
		{"volatile-lru", false},
		{"volatile-ttl", false},
		{"allkeys-random", false},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			srv := redistest.Start(t, "--maxmemory", "64mb", "--maxmemory-policy", tc.policy)
			conn, err := DialRedis(RedisOptions{URL: "redis://" + srv.Addr + "/0"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.CheckNoEviction(ctx)
			if tc.ok && err != nil {
				t.Fatalf("CheckNoEviction: %v", err)
			}
			if !tc.ok && (!errors.Is(err, ErrEvicting) || !strings.Contains(err.Error(), tc.policy)) {
				t.Fatalf("CheckNoEviction = %v, want ErrEvicting naming %s", err, tc.policy)
			}
		})
	}
	t.Run("cluster", func(t *testing.T) {
		cluster := redistest.StartCluster(t, 3)
		conn, err := DialRedis(RedisOptions{Addrs: cluster.Addrs, Cluster: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.CheckNoEviction(ctx); err != nil {
			t.Fatalf("a noeviction cluster: %v", err)
		}
		if _, err := redistest.Do(cluster.Addrs[1], "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"); err != nil {
			t.Fatal(err)
		}
		if err := conn.CheckNoEviction(ctx); !errors.Is(err, ErrEvicting) || !strings.Contains(err.Error(), "allkeys-lfu") {
			t.Fatalf("one evicting master: %v", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		srv := redistest.Start(t)
		conn, err := DialRedis(RedisOptions{URL: "redis://" + srv.Addr + "/0"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		srv.Kill()
		if err := conn.CheckNoEviction(ctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("a Redis that is down: %v", err)
		}
	})
}
