package redistest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMasterName is the name under which the Sentinels of StartSentinel
// monitor the master (a client's MasterName).
const SentinelMasterName = "stepup-test"

// failoverTimeout bounds how long Failover and WaitForMaster wait: a
// failover needs a few of Sentinel's one-second INFO rounds.
const failoverTimeout = 30 * time.Second

// SentinelOptions shape the deployment StartSentinel launches.
type SentinelOptions struct {
	// Sentinels is how many Sentinels monitor the master; zero means one.
	Sentinels int
	// DownAfter is Sentinel's down-after-milliseconds: how long the master
	// may be unreachable before a Sentinel fails over on its own. Zero
	// means one second; a test that wants the outage to last until it
	// calls Failover sets it far longer than the test.
	DownAfter time.Duration
}

// Sentinel is a master, one replica of it and the Sentinels monitoring
// them, all on loopback ports.
type Sentinel struct {
	// Addrs are the Sentinels' "127.0.0.1:port" addresses (a client's
	// Sentinel list).
	Addrs []string
	// MasterName is the monitored master's name (SentinelMasterName).
	MasterName string
	// Master is the master when the deployment starts; Kill it to cause
	// an outage.
	Master *Server
	// Replica replicates Master and is the server a failover promotes.
	Replica *Server
	// Sentinels are the Sentinel processes, in the order of Addrs.
	Sentinels []*Server
}

// StartSentinel launches a master, a replica of it (--replicaof) and
// opts.Sentinels Sentinels (`redis-server <conf> --sentinel`) with quorum
// 1, and waits until every Sentinel reports the master and knows the
// healthy replica, so that a failover can promote it. Every process is
// killed when the test ends.
func StartSentinel(t testing.TB, opts SentinelOptions) *Sentinel {
	t.Helper()
	requireBinaries(t, "redis-server")
	if opts.Sentinels == 0 {
		opts.Sentinels = 1
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = time.Second
	}
	if opts.Sentinels < 0 || opts.DownAfter < time.Millisecond {
		t.Fatalf("redistest: invalid sentinel options %+v", opts)
	}

	// No delay before a full sync, so the replica catches up at once.
	master := start(t, false, []string{"--repl-diskless-sync-delay", "0"})
	host, port, _ := strings.Cut(master.Addr, ":")
	replica := start(t, false, []string{"--replicaof", host, port})
	waitFor(t, "replica "+replica.Addr+" to sync", func() bool {
		info, err := Do(replica.Addr, "INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})

	s := &Sentinel{MasterName: SentinelMasterName, Master: master, Replica: replica}
	for i := 0; i < opts.Sentinels; i++ {
		// A Sentinel started now sends INFO to the master at once, so it
		// learns about the already connected replica without waiting for
		// its ten-second INFO period.
		sn := startSentinelProc(t, master.Addr, opts.DownAfter)
		s.Sentinels = append(s.Sentinels, sn)
		s.Addrs = append(s.Addrs, sn.Addr)
	}
	for _, addr := range s.Addrs {
		waitFor(t, "sentinel "+addr+" to monitor the master and its replica", func() bool {
			got, err := masterAddrFrom(addr, s.MasterName)
			return err == nil && got == master.Addr && s.knowsHealthyReplica(addr)
		})
	}
	return s
}

// startSentinelProc launches one Sentinel monitoring the master at
// masterAddr, retrying with a new port if the start fails.
func startSentinelProc(t testing.TB, masterAddr string, downAfter time.Duration) *Server {
	t.Helper()
	_, masterPort, _ := strings.Cut(masterAddr, ":")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		port := freePort(t)
		// Sentinel rewrites its config file, so it lives in the temp dir.
		conf := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"daemonize no",
			"dir " + dir,
			"logfile " + filepath.Join(dir, "redis.log"),
			"sentinel resolve-hostnames no",
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s 1", SentinelMasterName, masterPort),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", SentinelMasterName, downAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", SentinelMasterName, 10000),
		}, "\n") + "\n"
		path := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: writing sentinel config: %v", err)
		}
		s, err := launch(t, dir, port, []string{path, "--sentinel"})
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("redistest: sentinel did not start: %v", lastErr)
	return nil
}

// MasterAddr returns the master's address as the first Sentinel that
// answers reports it.
func (s *Sentinel) MasterAddr() (string, error) {
	var errs []error
	for _, addr := range s.Addrs {
		got, err := masterAddrFrom(addr, s.MasterName)
		if err == nil {
			return got, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// Failover makes the first Sentinel fail over now (SENTINEL FAILOVER),
// whether or not the master is reachable, and waits until the replica is
// the master (see WaitForMaster). It returns the new master's address,
// which is Replica.Addr.
func (s *Sentinel) Failover(t testing.TB) string {
	t.Helper()
	if _, err := Do(s.Addrs[0], "SENTINEL", "FAILOVER", s.MasterName); err != nil {
		t.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	s.WaitForMaster(t, s.Replica.Addr)
	return s.Replica.Addr
}

// WaitForMaster waits until every Sentinel reports addr as the master and
// the server at addr acts as a master, as after a failover (automatic, once
// the master has been unreachable for DownAfter, or from Failover).
func (s *Sentinel) WaitForMaster(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(failoverTimeout)
	for _, sentinel := range s.Addrs {
		for {
			got, err := masterAddrFrom(sentinel, s.MasterName)
			if err == nil && got == addr {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: sentinel %s reports master %q (%v), want %s within %v", sentinel, got, err, addr, failoverTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor(t, addr+" to act as master", func() bool {
		role, err := Do(addr, "ROLE")
		return err == nil && strings.HasPrefix(role, "master\n")
	})
}

// masterAddrFrom asks the Sentinel at addr where the master named name is.
func masterAddrFrom(addr, name string) (string, error) {
	reply, err := Do(addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return "", err
	}
	host, port, ok := strings.Cut(reply, "\n")
	if !ok {
		return "", fmt.Errorf("redistest: sentinel %s does not know master %q", addr, name)
	}
	return host + ":" + port, nil
}

// knowsHealthyReplica reports whether the Sentinel at addr lists the
// replica with no trouble flag (only "slave"), i.e. as promotable.
func (s *Sentinel) knowsHealthyReplica(addr string) bool {
	reply, err := Do(addr, "SENTINEL", "REPLICAS", s.MasterName)
	if err != nil {
		return false
	}
	// The reply is a flat name/value list (one replica).
	fields := map[string]string{}
	parts := strings.Split(reply, "\n")
	for i := 0; i+1 < len(parts); i += 2 {
		fields[parts[i]] = parts[i+1]
	}
	return fields["name"] == s.Replica.Addr && fields["flags"] == "slave" &&
		fields["master-link-status"] == "ok"
}

// waitFor polls cond until it holds, failing the test after startTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: timed out after %v waiting for %s", startTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
