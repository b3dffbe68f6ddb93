package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// benchRedis returns a store on a fresh local redis-server.
func benchRedis(b *testing.B) Store {
	srv := redistest.Start(b)
	conn, err := DialRedis(RedisOptions{Addrs: []string{srv.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return NewRedis(conn, "")
}

// benchOps measures each Store operation on s.
func benchOps(b *testing.B, s Store) {
	ctx := context.Background()
	value := []byte(`{"v":1,"user":"usr_0123456789abcdef","scope":"transfer:write"}`)
	const ttl = time.Minute
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Get", func(b *testing.B) {
		must(s.Set(ctx, "get", value, ttl))
		for b.Loop() {
			_, err := s.Get(ctx, "get")
			must(err)
		}
	})
	b.Run("Set", func(b *testing.B) {
		for b.Loop() {
			must(s.Set(ctx, "set", value, ttl))
		}
	})
	b.Run("Create", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			must(s.Create(ctx, fmt.Sprintf("create:%d", i), value, ttl))
		}
	})
	b.Run("Swap", func(b *testing.B) {
		a, c := value, append([]byte("x"), value...)
		must(s.Set(ctx, "swap", a, ttl))
		for b.Loop() {
			must(s.Swap(ctx, "swap", a, c, ttl))
			a, c = c, a
		}
	})
	b.Run("Take", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			must(s.Set(ctx, "take", value, ttl))
			b.StartTimer()
			_, err := s.Take(ctx, "take")
			must(err)
		}
	})
	b.Run("Incr", func(b *testing.B) {
		for b.Loop() {
			_, err := s.Incr(ctx, "incr", ttl)
			must(err)
		}
	})
	b.Run("Delete", func(b *testing.B) {
		for b.Loop() {
			must(s.Delete(ctx, "del:a", "del:b"))
		}
	})
	b.Run("AddMember", func(b *testing.B) {
		for b.Loop() {
			must(s.AddMember(ctx, "addmember", "ses_0123456789abcdef", ttl))
		}
	})
	b.Run("RemoveMember", func(b *testing.B) {
		for b.Loop() {
			must(s.RemoveMember(ctx, "addmember", "absent"))
		}
	})
	b.Run("Members", func(b *testing.B) {
		for i := range 5 {
			must(s.AddMember(ctx, "members", fmt.Sprint("m", i), ttl))
		}
		for b.Loop() {
			_, err := s.Members(ctx, "members")
			must(err)
		}
	})
}

func BenchmarkRedis(b *testing.B)  { benchOps(b, benchRedis(b)) }
func BenchmarkMemory(b *testing.B) { benchOps(b, NewMemory()) }

// BenchmarkRedisReplicated measures the consuming operations on a master
// with one replica, without and with wait_replicas 1: the cost of WAIT.
func BenchmarkRedisReplicated(b *testing.B) {
	master := redistest.Start(b, "--repl-diskless-sync-delay", "0")
	host, port, _ := strings.Cut(master.Addr, ":")
	replica := redistest.Start(b, "--replicaof", host+" "+port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := redistest.Do(replica.Addr, "INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the replica did not sync")
		}
	}
	for _, wait := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait_replicas=%d", wait), func(b *testing.B) {
			conn, err := DialRedis(RedisOptions{Addrs: []string{master.Addr}, WaitReplicas: wait})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			s := NewRedis(conn, fmt.Sprintf("bench%d:", wait))
			ctx := context.Background()
			value := []byte(`{"v":1,"user":"usr_0123456789abcdef","scope":"transfer:write"}`)
			b.Run("CreateTake", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					key := fmt.Sprintf("grant:%d", i)
					if err := s.Create(ctx, key, value, time.Minute); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Take(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
