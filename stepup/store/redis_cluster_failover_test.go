package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

// clusterRecoveryBudget is how long after a replica's promotion the store
// may still fail on the promoted slots. go-redis alone took up to its 60 s
// reload timer; with a reload on connection errors it is one reload.
const clusterRecoveryBudget = 3 * time.Second

// TestRedisClusterFailoverRecoversWithinSeconds kills the master of one
// slot in a 3-master + 3-replica Cluster while writes to that slot run, and
// measures from the replica's promotion (its ROLE turning master) to the
// last failed write: the store must find the new master within
// clusterRecoveryBudget, not at go-redis's periodic reload.
func TestRedisClusterFailoverRecoversWithinSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("a Cluster failover takes seconds")
	}
	cluster := redistest.StartClusterWithReplicas(t, 3, 1)
	s := dialStore(t, RedisOptions{Addrs: cluster.Addrs, Cluster: true, Timeout: failTimeout})
	ctx := context.Background()
	const probe = "{failover}probe"
	master, replica := cluster.MasterOf(t, s.key(probe))
	if replica < 0 {
		out, _ := redistest.Do(cluster.Addrs[0], "CLUSTER", "NODES")
		t.Fatalf("the probe's master (node %d) has no replica:\n%s", master, out)
	}
	if err := s.Set(ctx, probe, []byte("0"), time.Hour); err != nil {
		t.Fatal(err)
	}

	var (
		mu         sync.Mutex
		lastFail   time.Time
		failures   int
		successes  int
		stop       = make(chan struct{})
		writersEnd sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		writersEnd.Add(1)
		go func() {
			defer writersEnd.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Incr(ctx, probe+"-n", time.Hour)
				mu.Lock()
				if err != nil {
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("a failed write is not ErrUnavailable: %v", err)
					}
					failures++
					lastFail = time.Now()
				} else {
					successes++
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	cluster.Nodes[master].Kill()
	killed := time.Now()
	promoted := cluster.WaitForPromotion(replica)
	if promoted.IsZero() {
		close(stop)
		writersEnd.Wait()
		t.Fatal("the replica was not promoted within 30 s")
	}
	// Run on long enough past the budget to see a failure that outlasts it.
	time.Sleep(clusterRecoveryBudget + 2*time.Second)
	close(stop)
	writersEnd.Wait()

	mu.Lock()
	defer mu.Unlock()
	outage := lastFail.Sub(promoted)
	t.Logf("promotion %v after the kill; %d writes failed, %d succeeded; last failure %v after the promotion",
		promoted.Sub(killed).Round(time.Millisecond), failures, successes, outage.Round(time.Millisecond))
	if failures == 0 {
		t.Fatal("no write failed: the kill did not hit the probe's master")
	}
	if outage > clusterRecoveryBudget {
		t.Fatalf("writes still failed %v after the promotion (budget %v)", outage, clusterRecoveryBudget)
	}
	if v, err := s.Get(ctx, probe); err != nil || string(v) != "0" {
		t.Fatalf("the value written before the kill: %q, %v", v, err)
	}
}
