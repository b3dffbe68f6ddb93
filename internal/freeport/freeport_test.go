package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPortIsBelowTheEphemeralRangeAndNeverRepeated(t *testing.T) {
	ceiling := ephemeralStart()
	seen := map[int]bool{}
	for range 200 {
		p := Port(t)
		if p < lowest || p >= ceiling {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, ceiling)
		}
		if p == 6379 || p == 16379 {
			t.Fatalf("port %d is Redis's", p)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

// TestFreeSeesAPortInUseAndPortIsBindable: the check Port relies on says
// a listened-on port is taken, and a port Port hands out can be bound.
func TestFreeSeesAPortInUseAndPortIsBindable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	if free(busy) {
		t.Fatalf("port %d is listened on but free() says free", busy)
	}
	p := Port(t)
	l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("handed port %d cannot be bound: %v", p, err)
	}
	l2.Close()
}
