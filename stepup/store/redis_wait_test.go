package store

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// replicatedPair starts a master and a replica of it that authenticates as
// the ACL user "repl", so that a test can cut replication for good
// (disable the user, drop its connection) while clients carry on.
func replicatedPair(t *testing.T) (master, replica *redistest.Server) {
	t.Helper()
	master = redistest.Start(t, "--repl-diskless-sync-delay", "0")
	if _, err := redistest.Do(master.Addr, "ACL", "SETUSER", "repl", "on", ">repl-pw", "+@all", "~*", "&*"); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(master.Addr)
	replica = redistest.Start(t, "--replicaof", host+" "+port, "--masteruser", "repl", "--masterauth", "repl-pw")
	waitUntil(t, "the replica is in sync", func() bool {
		info, err := redistest.Do(replica.Addr, "INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return master, replica
}

// cutReplication stops the master from reaching its replica until the end
// of the test: what the master does from now on, the replica never sees.
func cutReplication(t *testing.T, master *redistest.Server) {
	t.Helper()
	if _, err := redistest.Do(master.Addr, "ACL", "SETUSER", "repl", "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := redistest.Do(master.Addr, "CLIENT", "KILL", "USER", "repl"); err != nil {
		t.Fatal(err)
	}
}

// TestWaitReplicasKeepsAConsumptionAcrossFailover spends a grant while the
// replica is cut off, then fails over to the replica (which never saw the
// spend) and spends it again. Without wait_replicas the master's
// acknowledgement is enough and the grant is spent twice: the window the
// README describes. With it, the first spend is refused (503) because no
// replica holds it, so the grant is spent once in all.
func TestWaitReplicasKeepsAConsumptionAcrossFailover(t *testing.T) {
	for _, wait := range []int{0, 1} {
		t.Run("wait_replicas="+string(rune('0'+wait)), func(t *testing.T) {
			master, replica := replicatedPair(t)
			// The wait is generous: on a loaded machine a healthy replica
			// can take tens of milliseconds to acknowledge, and only the
			// cut replica must fail to.
			s := dialStore(t, RedisOptions{Addrs: []string{master.Addr}, Timeout: 2 * time.Second, WaitReplicas: wait, WaitTimeout: time.Second})
			ctx := context.Background()
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Create(ctx, "grant", []byte("g"), time.Hour); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the replica has the grant", func() bool {
				v, err := redistest.Do(replica.Addr, "GET", s.prefix+"grant")
				return err == nil && v == "g"
			})

			cutReplication(t, master)
			spent := 0
			_, err := s.Take(ctx, "grant")
			switch {
			case err == nil:
				spent++
			case wait > 0 && errors.Is(err, ErrUnavailable):
			default:
				t.Fatalf("Take before the failover: %v", err)
			}

			master.Kill()
			if _, err := redistest.Do(replica.Addr, "REPLICAOF", "NO", "ONE"); err != nil {
				t.Fatal(err)
			}
			conn, err := DialRedis(RedisOptions{Addrs: []string{replica.Addr}, Timeout: failTimeout})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			promoted := NewRedis(conn, s.prefix)
			if _, err := promoted.Take(ctx, "grant"); err == nil {
				spent++
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Take after the failover: %v", err)
			}

			want := 1
			if wait == 0 {
				want = 2
			}
			if spent != want {
				t.Fatalf("the grant was spent %d times across the failover, want %d", spent, want)
			}
		})
	}
}

// TestWaitReplicasOnACluster: with replicas that answer, every consuming
// operation succeeds on a Cluster too (WAIT goes to the key's master, on
// the connection that wrote); with the replica of a key's master stalled,
// writes to that key fail (503) while the other slots carry on.
func TestWaitReplicasOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Cluster")
	}
	cluster := redistest.StartClusterWithReplicas(t, 3, 1)
	// WAIT's bound is generous: six nodes on a loaded machine may take
	// longer than the default half second to acknowledge, and a refusal
	// there would say nothing of the store.
	s := dialStore(t, RedisOptions{Addrs: cluster.Addrs, Cluster: true, Timeout: 4 * time.Second, WaitReplicas: 1})
	ctx := context.Background()
	for _, key := range []string{"{a}grant", "{b}grant", "{c}grant"} {
		if err := s.Create(ctx, key, []byte("g"), time.Hour); err != nil {
			t.Fatalf("Create %s: %v", key, err)
		}
		if err := s.Swap(ctx, key, []byte("g"), []byte("h"), time.Hour); err != nil {
			t.Fatalf("Swap %s: %v", key, err)
		}
		if n, err := s.Incr(ctx, key+":n", time.Hour); err != nil || n != 1 {
			t.Fatalf("Incr %s: %d %v", key, n, err)
		}
		if v, err := s.Take(ctx, key); err != nil || string(v) != "h" {
			t.Fatalf("Take %s: %q %v", key, v, err)
		}
	}

	batch := []*Op{CreateOp("{a}b", []byte("g"), time.Hour), IncrOp("{b}b", time.Hour), TakeOp("{c}grant"),
		SpendOp(Lock{Key: "{d}lock", At: 3}, []Counter{{Key: "{e}n", Limit: 5, Window: time.Hour}, {Key: "{f}n", Limit: 5, Window: time.Hour}})}
	Do(ctx, s, batch...)
	for i, op := range batch {
		if op.Err != nil && !(op.Kind == OpTake && errors.Is(op.Err, ErrNotFound)) {
			t.Fatalf("batch op %d: %v", i, op.Err)
		}
	}

	stalledMaster, replica := cluster.MasterOf(t, s.key("{a}grant"))
	cluster.Nodes[replica].Freeze()
	defer cluster.Nodes[replica].Thaw()
	if err := s.Create(ctx, "{a}late", []byte("g"), time.Hour); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Create with the slot's replica stalled: %v, want ErrUnavailable", err)
	}
	checked := 0
	for _, key := range []string{"{b}x", "{c}x", "{d}x", "{e}x"} {
		if m, _ := cluster.MasterOf(t, s.key(key)); m == stalledMaster {
			continue
		}
		if err := s.Create(ctx, key, []byte("g"), time.Hour); err != nil {
			t.Fatalf("Create %s on another master's slot: %v", key, err)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("every key fell on the stalled replica's master: nothing checked the other slots")
	}
}

// TestWaitReplicasInBatches: a batch's consuming ops and spends wait for
// the replica like the methods do; once the replica is cut off they fail
// (503) while its reads still answer.
func TestWaitReplicasInBatches(t *testing.T) {
	master, _ := replicatedPair(t)
	s := dialStore(t, RedisOptions{Addrs: []string{master.Addr}, Timeout: 2 * time.Second, WaitReplicas: 1, WaitTimeout: time.Second})
	ctx := context.Background()
	counters := []Counter{{Key: "{a}n", Limit: 5, Window: time.Hour}, {Key: "{b}n", Limit: 5, Window: time.Hour}}
	ops := []*Op{CreateOp("grant", []byte("g"), time.Hour), IncrOp("{c}n", time.Hour), GetOp("{d}absent"),
		SpendOp(Lock{Key: "{l}lock", At: 3}, counters)}
	Do(ctx, s, ops...)
	for i, op := range ops {
		if op.Err != nil && !(i == 2 && errors.Is(op.Err, ErrNotFound)) {
			t.Fatalf("op %d with a replica: %v", i, op.Err)
		}
	}
	cutReplication(t, master)
	take, read, spend := TakeOp("grant"), GetOp("{c}n"), SpendOp(Lock{}, counters)
	Do(ctx, s, take, read, spend)
	if !errors.Is(take.Err, ErrUnavailable) || !errors.Is(spend.Err, ErrUnavailable) {
		t.Fatalf("take %v, spend %v without the replica, want ErrUnavailable", take.Err, spend.Err)
	}
	if read.Err != nil || string(read.Result) != "1" {
		t.Fatalf("read %q, %v", read.Result, read.Err)
	}
}
