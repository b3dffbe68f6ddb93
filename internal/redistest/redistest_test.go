package redistest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStartAnswersAndKillStops(t *testing.T) {
	s := Start(t)
	if got, err := Do(s.Addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v; want PONG", got, err)
	}
	if got, err := Do(s.Addr, "CONFIG", "GET", "save"); err != nil || got != "save\n" {
		t.Fatalf("CONFIG GET save = %q, %v; want persistence off", got, err)
	}
	if strings.HasSuffix(s.Addr, ":6379") {
		t.Fatalf("server on the default port: %s", s.Addr)
	}
	s.Kill()
	var replyErr ReplyError
	if _, err := Do(s.Addr, "PING"); err == nil || errors.As(err, &replyErr) {
		t.Fatalf("PING after Kill: %v, want a network error", err)
	}
	s.Kill() // a second call is harmless
}

func TestDoRendersReplies(t *testing.T) {
	s := Start(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "k", "v"}, "OK"},
		{[]string{"INCR", "n"}, "1"},
		{[]string{"GET", "missing"}, ""},
		{[]string{"MGET", "k", "missing"}, "v\n"},
		{[]string{"SCAN", "0", "MATCH", "k"}, "0\nk"},
	} {
		if got, err := Do(s.Addr, tc.args...); err != nil || got != tc.want {
			t.Errorf("%v = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
	var replyErr ReplyError
	if _, err := Do(s.Addr, "INCR", "k"); !errors.As(err, &replyErr) || !strings.HasPrefix(err.Error(), "ERR ") {
		t.Errorf("INCR on a string: %v, want an ERR reply", err)
	}
}

func TestDoReportsNoAuthAsReply(t *testing.T) {
	s := Start(t, "--requirepass", "secret")
	var replyErr ReplyError
	if _, err := Do(s.Addr, "PING"); !errors.As(err, &replyErr) || !strings.HasPrefix(err.Error(), "NOAUTH ") {
		t.Fatalf("PING without a password: %v, want a NOAUTH reply", err)
	}
}

func TestStartPassesExtraArgs(t *testing.T) {
	s := Start(t, "--maxmemory", "2mb")
	got, err := Do(s.Addr, "CONFIG", "GET", "maxmemory")
	if err != nil || got != "maxmemory\n2097152" {
		t.Fatalf("CONFIG GET maxmemory = %q, %v", got, err)
	}
}

func TestStartClusterServesAllSlots(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs) != 3 {
		t.Fatalf("got %d addrs, want 3", len(c.Addrs))
	}
	for _, addr := range c.Addrs {
		if !clusterReady(addr, 3) {
			t.Fatalf("node %s not ready", addr)
		}
	}
}

func TestStartSentinelMonitorsMasterAndReplica(t *testing.T) {
	s := StartSentinel(t, SentinelOptions{Sentinels: 2})
	if len(s.Addrs) != 2 || len(s.Sentinels) != 2 {
		t.Fatalf("got %d addrs and %d sentinels, want 2", len(s.Addrs), len(s.Sentinels))
	}
	for _, addr := range s.Addrs {
		if got, err := masterAddrFrom(addr, s.MasterName); err != nil || got != s.Master.Addr {
			t.Fatalf("sentinel %s reports master %q, %v; want %s", addr, got, err, s.Master.Addr)
		}
		if !s.knowsHealthyReplica(addr) {
			t.Fatalf("sentinel %s does not list the replica as healthy", addr)
		}
	}
	if role, err := Do(s.Replica.Addr, "ROLE"); err != nil || !strings.HasPrefix(role, "slave\n") {
		t.Fatalf("replica ROLE = %q, %v", role, err)
	}
}

func TestSentinelFailoverPromotesReplica(t *testing.T) {
	// A long down-after: only the explicit Failover may promote.
	s := StartSentinel(t, SentinelOptions{DownAfter: time.Hour})
	if _, err := Do(s.Master.Addr, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica to have k", func() bool {
		v, err := Do(s.Replica.Addr, "GET", "k")
		return err == nil && v == "v"
	})
	s.Master.Kill()
	if got, err := s.MasterAddr(); err != nil || got != s.Master.Addr {
		t.Fatalf("before Failover the sentinel reports %q, %v; want the old master %s", got, err, s.Master.Addr)
	}
	if got := s.Failover(t); got != s.Replica.Addr {
		t.Fatalf("Failover = %s, want the replica %s", got, s.Replica.Addr)
	}
	if got, err := s.MasterAddr(); err != nil || got != s.Replica.Addr {
		t.Fatalf("after Failover the sentinel reports %q, %v", got, err)
	}
	if _, err := Do(s.Replica.Addr, "SET", "k", "w"); err != nil {
		t.Fatalf("the promoted replica refuses writes: %v", err)
	}
}
