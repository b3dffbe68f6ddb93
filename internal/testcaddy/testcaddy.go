// Package testcaddy runs the real caddy binary, built from this checkout
// with the plugin, for whole-server tests: each instance gets its own
// config, ports, storage and log, and is stopped by its process ID.
package testcaddy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"

	"github.com/caddy-stepup/caddy-stepup/internal/freeport"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// Binary builds caddy with the plugin once per test process (tests/caddy,
// the same program xcaddy.sh produces) and returns its path. STEPUP_CADDY
// names a prebuilt binary instead.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("STEPUP_CADDY"); p != "" {
			binary = p
			return
		}
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "stepup-caddy-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-o", binary, "./tests/caddy")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(gomod), nil
}

// FreePort returns a TCP port that was free a moment ago, from below the
// kernel's ephemeral range (see package freeport).
func FreePort(t testing.TB) int {
	t.Helper()
	return freeport.Port(t)
}

// Instance is one running caddy.
type Instance struct {
	Dir       string // working directory, also HOME and XDG dirs (storage)
	AdminPort int
	cmd       *exec.Cmd
	log       *syncBuffer
	done      chan struct{}
}

// Config holds what Start needs.
type Config struct {
	// Caddyfile text. `{admin}` is replaced by the instance's admin address
	// (put `admin {admin}` in the global options).
	Caddyfile string
	// Env adds environment variables.
	Env []string
	// Dir reuses a working directory (and so the storage) of an earlier
	// instance; empty = a new temporary one.
	Dir string
	// WaitFor lists URLs that must answer (any status) before Start returns.
	WaitFor []string
}

// Start runs caddy with cfg and stops it when the test ends.
func Start(t testing.TB, cfg Config) *Instance {
	t.Helper()
	bin := Binary(t)
	dir := cfg.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	inst := &Instance{Dir: dir, AdminPort: FreePort(t), log: new(syncBuffer), done: make(chan struct{})}
	text := strings.ReplaceAll(cfg.Caddyfile, "{admin}", fmt.Sprintf("127.0.0.1:%d", inst.AdminPort))
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Env = append(cmd.Env, cfg.Env...)
	cmd.Stdout = inst.log
	cmd.Stderr = inst.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inst.cmd = cmd
	go func() { _ = cmd.Wait(); close(inst.done) }()
	t.Cleanup(func() {
		inst.Stop()
		if t.Failed() {
			t.Logf("caddy log:\n%s", inst.Log())
		}
	})
	waitFor := append([]string{fmt.Sprintf("http://127.0.0.1:%d/config/", inst.AdminPort)}, cfg.WaitFor...)
	for _, u := range waitFor {
		if err := inst.waitForURL(u, 60*time.Second); err != nil {
			t.Fatalf("caddy did not start: %v\n%s", err, inst.Log())
		}
	}
	return inst
}

// StartErr runs caddy with a config expected not to load and returns its
// log once it has exited.
func StartErr(t testing.TB, caddyfile string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	text := strings.ReplaceAll(caddyfile, "{admin}", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("caddy started with a config that should be refused:\n%s", out)
	}
	return string(out)
}

func (inst *Instance) waitForURL(u string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-inst.done:
			return fmt.Errorf("caddy exited")
		default:
		}
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %v", u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the caddy process ID.
func (inst *Instance) PID() int { return inst.cmd.Process.Pid }

// Log returns everything caddy wrote so far.
func (inst *Instance) Log() string { return inst.log.String() }

// Stop ends caddy: SIGTERM to its process, SIGKILL after 10 s.
func (inst *Instance) Stop() {
	if inst.cmd == nil || inst.cmd.Process == nil {
		return
	}
	select {
	case <-inst.done:
		return
	default:
	}
	_ = inst.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-inst.done:
	case <-time.After(10 * time.Second):
		_ = inst.cmd.Process.Kill()
		<-inst.done
	}
}

// Kill ends caddy at once (SIGKILL), as a crash would, and waits for it.
func (inst *Instance) Kill() {
	if inst.cmd == nil || inst.cmd.Process == nil {
		return
	}
	_ = inst.cmd.Process.Kill()
	<-inst.done
}

// Reload loads a new Caddyfile through the admin API.
func (inst *Instance) Reload(t testing.TB, caddyfile string) {
	t.Helper()
	text := strings.ReplaceAll(caddyfile, "{admin}", fmt.Sprintf("127.0.0.1:%d", inst.AdminPort))
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/load", inst.AdminPort), strings.NewReader(text))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("reload: %d %s", resp.StatusCode, b.String())
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
