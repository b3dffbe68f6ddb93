package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// TestCaddyValidateHasNoSideEffects: `caddy validate` checks a config
// without acting on it: no connection to Redis, no key set fetched, no
// signing key written to storage. `caddy run` of the same config does all
// three.
func TestCaddyValidateHasNoSideEffects(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	connections := func() int64 {
		info, err := rdb.Info(context.Background(), "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_connections_received:"); ok {
				var n int64
				fmt.Sscan(v, &n)
				return n
			}
		}
		t.Fatal("no total_connections_received")
		return 0
	}
	var jwksHits atomic.Int64
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jwksHits.Add(1)
		_, _ = w.Write(jwksJSON(newECKey(t, "k")))
	}))
	defer idp.Close()
	port := testcaddy.FreePort(t)
	caddyfile := fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://127.0.0.1:%d
		store redis redis://%s/0
		trust https://idp.test {
			jwks_url %s/jwks.json
		}
		login otp phone_number
		otp {
			sender log
		}
	}
}
http://127.0.0.1:%d {
	stepup_session
}
`, port, srv.Addr, idp.URL, port)

	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	text := strings.ReplaceAll(caddyfile, "{admin}", fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t)))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	connections() // this test's own connection, kept in the client's pool
	before := connections()
	cmd := exec.Command(testcaddy.Binary(t), "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // a background fetch would have happened by now
	if n := connections() - before; n != 0 {
		t.Errorf("caddy validate opened %d connections to Redis", n)
	}
	if jwksHits.Load() != 0 {
		t.Errorf("caddy validate fetched the JWKS %d times", jwksHits.Load())
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "data", "caddy", "stepup", "*")); len(entries) != 0 {
		t.Errorf("caddy validate wrote to storage: %v", entries)
	}

	// The same config, run: it connects, fetches and writes its key.
	testcaddy.Start(t, testcaddy.Config{Caddyfile: caddyfile, Dir: dir, WaitFor: []string{fmt.Sprintf("http://127.0.0.1:%d/.well-known/jwks.json", port)}})
	if connections() <= before {
		t.Error("caddy run did not connect to Redis")
	}
	deadline := time.Now().Add(5 * time.Second)
	for jwksHits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if jwksHits.Load() == 0 {
		t.Error("caddy run did not fetch the JWKS")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "caddy", "stepup", "signing_key.pem")); err != nil {
		t.Errorf("caddy run kept no generated signing key: %v", err)
	}
}
