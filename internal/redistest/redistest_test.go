package redistest

import (
	"strings"
	"testing"
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
	if _, err := Do(s.Addr, "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Kill() // a second call is harmless
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
