package main

// The soak's servers: two gateways sharing one Redis, the upstream and
// the OTP webhook it serves itself, started on free ports and stopped by
// pid.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/caddy-stepup/jwks"
)

type gateway struct {
	base      string
	adminPort int
	cmd       *exec.Cmd
}

type delivery struct {
	code string
	sent int
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start launches redis-server, the OTP webhook, the upstream and two
// gateways.
func (s *soak) start(caddyBin string) error {
	redisPort, err := freePort()
	if err != nil {
		return err
	}
	rcmd := exec.Command("redis-server", "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--maxmemory-policy", "noeviction", "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := rcmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %v", err)
	}
	s.procs = append(s.procs, rcmd)
	s.redisPID = rcmd.Process.Pid
	s.redis = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort)})
	for deadline := time.Now().Add(10 * time.Second); s.redis.Ping(context.Background()).Err() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer")
		}
	}

	webhook, err := s.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ To, Code string }
		if json.NewDecoder(r.Body).Decode(&m) != nil || m.To == "" {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		sent := 1
		if prev, ok := s.codes.Load(m.To); ok {
			sent = prev.(delivery).sent + 1
		}
		s.codes.Store(m.To, delivery{code: m.Code, sent: sent})
		w.WriteHeader(http.StatusNoContent)
	}))
	if err != nil {
		return err
	}
	upstream, err := s.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := s.apiCalls.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		_, _ = io.WriteString(w, `{"legacy":"ok"}`)
	}))
	if err != nil {
		return err
	}

	signer, err := jwks.GenerateSigner()
	if err != nil {
		return err
	}
	pem, err := signer.PEM()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(s.dir, "signing_key.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		admin, err := freePort()
		if err != nil {
			return err
		}
		g := gateway{base: fmt.Sprintf("http://127.0.0.1:%d", port), adminPort: admin}
		conf := fmt.Sprintf(caddyfile, admin, g.base, keyFile, redisPort, webhook, upstream)
		dir := filepath.Join(s.dir, fmt.Sprintf("gateway%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return err
		}
		logFile, err := os.Create(filepath.Join(dir, "caddy.log"))
		if err != nil {
			return err
		}
		g.cmd = exec.Command(caddyBin, "run", "--config", path, "--adapter", "caddyfile")
		g.cmd.Dir = dir
		g.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
		g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
		if err := g.cmd.Start(); err != nil {
			return err
		}
		s.procs = append(s.procs, g.cmd)
		s.gateways = append(s.gateways, g)
		if err := waitFor(g.base + "/.well-known/jwks.json"); err != nil {
			return fmt.Errorf("gateway %d: %v", i, err)
		}
	}
	return nil
}

// caddyfile is one gateway: the session API and a single-use protected
// route, limits raised for one client address making every flow, and
// sessions that end after ten minutes so that the store reaches a steady
// size within the run.
const caddyfile = `{
	admin 127.0.0.1:%[1]d
	auto_https off
	stepup {
		issuer http://gateway.soak
		external_url %[2]s
		signing_key %[3]s
		refresh_token_ttl 10m
		store redis redis://127.0.0.1:%[4]d/0
		login otp phone_number
		otp {
			sender webhook %[5]s/send
			max_per_hour 100000
		}
		limits {
			client_unproven_sends 1000000 1h
			client_destination_sends 1000000 1h
			client_unfinished_logins 1000000 1m
			client_login_starts 1000000 1m
			client_sends 1000000 1h
			login_starts 1000000 1m
			sends 1000000 1m
		}
		scope transfer:write {
			direct {
				step verify_sms 5m
				granted_for 5m
				grant_mode single-use
			}
		}
	}
}

%[2]s {
	stepup_session
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[6]s
	}
	respond 404
}
`

func (s *soak) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = http.Serve(ln, h) }()
	return "http://" + ln.Addr().String(), nil
}

func waitFor(url string) error {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

func (s *soak) stop() {
	s.stopOnce.Do(s.stopAll)
}

func (s *soak) stopAll() {
	for _, p := range s.procs {
		if p.Process != nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range s.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
		}
	}
}
