// Package freeport hands tests TCP ports to listen on. A port the kernel
// gives for ":0" comes from the ephemeral range, the same range it draws
// the local ports of outgoing connections from: between the moment a test
// learns the port and the moment caddy or redis-server binds it, any of the
// many client connections a test run opens may take it ("address already in
// use"). So ports here come from below the ephemeral range, where no
// outgoing connection lands, are checked free on loopback and on every
// interface (a Caddyfile's ":port" binds the wildcard), and are never handed
// out twice by one process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	lowest        = 10000
	defaultFloor  = 32768 // Linux's default ip_local_port_range start
	reservedRedis = 6379
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Port returns a TCP port that was free on 127.0.0.1 and on the wildcard
// address a moment ago, below the ephemeral range, never Redis's default
// ports, and not handed out before by this process.
func Port(t testing.TB) int {
	t.Helper()
	p, err := pick()
	if err != nil {
		t.Fatalf("freeport: %v", err)
	}
	return p
}

func pick() (int, error) {
	ceiling := ephemeralStart()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := lowest + rand.IntN(ceiling-lowest)
		if p == reservedRedis || p == reservedRedis+10000 || handed[p] {
			continue
		}
		if !free(p) {
			continue
		}
		handed[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port in [%d, %d) after 1000 tries", lowest, ceiling)
}

func free(port int) bool {
	for _, addr := range []string{"127.0.0.1", ""} {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}

// ephemeralStart reads where the kernel's ephemeral ports begin.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultFloor
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return defaultFloor
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n <= lowest+1000 {
		return defaultFloor
	}
	return n
}
