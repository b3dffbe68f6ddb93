// Package redistest starts real redis-server processes for tests: a
// standalone server, a small Redis Cluster, or a master with a replica and
// Sentinels, each on free loopback ports, with nothing persisted to disk and
// everything killed when the test ends.
//
// When redis-server is not on PATH the helpers skip the test, unless the
// environment variable STEPUP_REQUIRE_REDIS is set (CI sets it), in which
// case they fail it so that CI can't pass by skipping silently.
package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/freeport"
)

// RequireEnv is the environment variable that turns a missing redis-server
// into a test failure instead of a skip.
const RequireEnv = "STEPUP_REQUIRE_REDIS"

// startTimeout bounds how long a server (or a cluster) may take to answer.
const startTimeout = 10 * time.Second

// Server is one redis-server process listening on a loopback port.
type Server struct {
	// Addr is the server's "127.0.0.1:port" address.
	Addr string
	// Dir is the server's working directory (inside t.TempDir()).
	Dir string

	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// Start launches a standalone redis-server on a free loopback port and waits
// until it answers PING. extraArgs are appended to the command line (for
// example "--maxmemory", "1mb" or "--replicaof", "127.0.0.1 7001"). The
// server is killed when the test ends.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	requireBinaries(t, "redis-server")
	return start(t, false, extraArgs)
}

// start launches one server, as a cluster node when cluster is set. A start
// that fails (typically because a port was taken meanwhile) is retried with
// new ports.
func start(t testing.TB, cluster bool, extraArgs []string) *Server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		port := freePort(t)
		args := []string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--dir", dir,
			"--logfile", filepath.Join(dir, "redis.log"),
		}
		if cluster {
			args = append(args,
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "2000",
				"--cluster-port", strconv.Itoa(freePort(t)),
			)
		}
		args = append(args, extraArgs...)
		s, err := launch(t, dir, port, args)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("redistest: redis-server did not start: %v", lastErr)
	return nil
}

// launch runs redis-server with args and waits for it to answer PING.
func launch(t testing.TB, dir string, port int, args []string) (*Server, error) {
	t.Helper()
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = dir
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:    dir,
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.Kill)

	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := Do(s.Addr, "PING")
		var replyErr ReplyError
		if (err == nil && reply == "PONG") || errors.As(err, &replyErr) {
			return s, nil // an error reply (NOAUTH with --requirepass) means it is up
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("exited early: %s", s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return nil, fmt.Errorf("no PONG from %s within %v (%v): %s", s.Addr, startTimeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server at once (SIGKILL) and waits for it to exit: clients
// then get "connection refused". Calling it again is harmless.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop shuts the server down gracefully (SIGTERM) and waits for it to exit.
// Calling it again, or after Kill, is harmless.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// signal sends sig once, then waits for the process to exit.
func (s *Server) signal(sig syscall.Signal) {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGCONT) // a frozen server can't handle SIGTERM
		_ = s.cmd.Process.Signal(sig)
	})
	select {
	case <-s.exited:
	case <-time.After(startTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Freeze suspends the process (SIGSTOP): connections are still accepted by
// the kernel but nothing is answered, like a server that hangs. Thaw resumes
// it; the cleanup resumes it too.
func (s *Server) Freeze() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// logTail returns the end of the server's log file, for failure messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return "(no log)"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// requireBinaries skips (or, with STEPUP_REQUIRE_REDIS set, fails) the test
// when one of the named programs is not on PATH.
func requireBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv(RequireEnv) != "" {
				t.Fatalf("redistest: %s not on PATH and %s is set: %v", name, RequireEnv, err)
			}
			t.Skipf("redistest: %s not on PATH (set %s to make this a failure)", name, RequireEnv)
		}
	}
}

// freePort returns a TCP port that was free a moment ago, from below the
// kernel's ephemeral range and never the default Redis ports, so a
// developer's own server is never touched (see package freeport).
func freePort(t testing.TB) int {
	t.Helper()
	return freeport.Port(t)
}
