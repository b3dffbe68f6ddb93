package redistest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster on loopback ports.
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
	return StartClusterWithReplicas(t, masters, 0)
}

// StartClusterWithReplicas is StartCluster with replicas replicas per
// master (masters × (1+replicas) nodes). Nodes time out after 2 s
// (cluster-node-timeout), so a killed master's replica takes over within
// a few seconds.
func StartClusterWithReplicas(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 masters, got %d", masters)
	}
	requireBinaries(t, "redis-server", "redis-cli")

	c := &Cluster{}
	total := masters * (1 + replicas)
	for i := 0; i < total; i++ {
		s := start(t, true, nil)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}

	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}

	deadline := time.Now().Add(startTimeout)
	for _, addr := range c.Addrs {
		for !clusterReady(addr, total) {
			if time.Now().After(deadline) {
				info, err := Do(addr, "CLUSTER", "INFO")
				t.Fatalf("redistest: cluster node %s not ready within %v: %v\n%s", addr, startTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Replicas join after the slots are assigned; wait until each is
	// attached and synchronised, so that a killed master can fail over.
	for !c.replicasInSync(masters * replicas) {
		if time.Now().After(deadline) {
			out, _ := Do(c.Addrs[0], "CLUSTER", "NODES")
			t.Fatalf("redistest: cluster replicas not in sync within %v:\n%s", startTimeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// replicasInSync reports whether want nodes are replicas whose link to
// their master is up.
func (c *Cluster) replicasInSync(want int) bool {
	if want == 0 {
		return true
	}
	n := 0
	for _, addr := range c.Addrs {
		info, err := Do(addr, "INFO", "replication")
		if err != nil {
			return false
		}
		if strings.Contains(info, "role:slave") {
			if !strings.Contains(info, "master_link_status:up") {
				return false
			}
			n++
		}
	}
	return n == want
}

// clusterReady reports whether the node at addr sees a healthy cluster of
// the expected size with every slot assigned.
func clusterReady(addr string, nodes int) bool {
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
		fields["cluster_known_nodes"] == strconv.Itoa(nodes)
}

// MasterOf returns the index in Nodes of the master serving key's slot, and
// of one of its replicas (-1 when it has none).
func (c *Cluster) MasterOf(t testing.TB, key string) (master, replica int) {
	t.Helper()
	slot, err := Do(c.Addrs[0], "CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatalf("redistest: CLUSTER KEYSLOT: %v", err)
	}
	n, _ := strconv.Atoi(slot)
	master, replica = -1, -1
	var masterID string
	nodes := c.nodeTable(t)
	for _, nd := range nodes {
		if nd.master && nd.serves(n) {
			masterID = nd.id
			master = c.index(nd.addr)
		}
	}
	for _, nd := range nodes {
		if !nd.master && nd.masterID == masterID && masterID != "" {
			replica = c.index(nd.addr)
		}
	}
	if master < 0 {
		t.Fatalf("redistest: no master serves slot %d", n)
	}
	return master, replica
}

// WaitForPromotion polls node i every 20 ms until it says it is a master,
// for at most 30 s, and returns when it first did (zero if it never did).
func (c *Cluster) WaitForPromotion(i int) time.Time {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.IsMaster(i) {
			return time.Now()
		}
	}
	return time.Time{}
}

// IsMaster reports whether node i says it is a master (ROLE).
func (c *Cluster) IsMaster(i int) bool {
	role, err := Do(c.Addrs[i], "ROLE")
	return err == nil && strings.HasPrefix(role, "master")
}

type clusterNode struct {
	id, addr, masterID string
	master             bool
	slots              [][2]int
}

func (n clusterNode) serves(slot int) bool {
	for _, r := range n.slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// nodeTable parses CLUSTER NODES as the first node sees it.
func (c *Cluster) nodeTable(t testing.TB) []clusterNode {
	t.Helper()
	out, err := Do(c.Addrs[0], "CLUSTER", "NODES")
	if err != nil {
		t.Fatalf("redistest: CLUSTER NODES: %v", err)
	}
	var nodes []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		nd := clusterNode{id: f[0], addr: addr, master: strings.Contains(f[2], "master"), masterID: f[3]}
		for _, r := range f[8:] {
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				nd.slots = append(nd.slots, [2]int{a, b})
			}
		}
		nodes = append(nodes, nd)
	}
	return nodes
}

func (c *Cluster) index(addr string) int {
	for i, a := range c.Addrs {
		if a == addr {
			return i
		}
	}
	return -1
}
