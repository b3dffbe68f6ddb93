package redistest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of master-only nodes on loopback ports.
type Cluster struct {
	// Addrs are the nodes' "127.0.0.1:port" addresses (seeds for a client).
	Addrs []string
	// Nodes are the server processes, in the order of Addrs.
	Nodes []*Server
}

// StartCluster launches masters redis-server nodes in cluster mode, joins
// them with `redis-cli --cluster create` (no replicas) and waits until every
// node reports cluster_state:ok. All nodes are killed when the test ends.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 masters, got %d", masters)
	}
	requireBinaries(t, "redis-server", "redis-cli")

	c := &Cluster{}
	for i := 0; i < masters; i++ {
		s := start(t, true, nil)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}

	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}

	deadline := time.Now().Add(startTimeout)
	for _, addr := range c.Addrs {
		for !clusterReady(addr, masters) {
			if time.Now().After(deadline) {
				info, err := Do(addr, "CLUSTER", "INFO")
				t.Fatalf("redistest: cluster node %s not ready within %v: %v\n%s", addr, startTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// clusterReady reports whether the node at addr sees a healthy cluster of
// the expected size with every slot assigned.
func clusterReady(addr string, masters int) bool {
	info, err := Do(addr, "CLUSTER", "INFO")
	if err != nil {
		return false
	}
	fields := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	return fields["cluster_state"] == "ok" &&
		fields["cluster_slots_ok"] == "16384" &&
		fields["cluster_known_nodes"] == strconv.Itoa(masters)
}
