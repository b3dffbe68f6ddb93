package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// Debian's prometheus scrapes a running gateway with monitoring/
// prometheus.yml (target and interval changed); every panel of
// monitoring/grafana-dashboard.json must then return data through
// Prometheus' own query API.

const requirePrometheusEnv = "STEPUP_REQUIRE_PROMETHEUS"

func requirePrometheus(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv(requirePrometheusEnv) != "" {
			t.Fatalf("prometheus is not installed (apt-get install prometheus) and %s is set", requirePrometheusEnv)
		}
		t.Skipf("prometheus is not installed (apt-get install prometheus; set %s to make this a failure)", requirePrometheusEnv)
	}
	return path
}

// startPrometheus runs prometheus with the repo's scrape example aimed at
// target, scraping every second, until the test ends.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	example, err := os.ReadFile(filepath.Join("..", "monitoring", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(example), `["localhost:2019"]`, `["`+target+`"]`)
	cfg = strings.ReplaceAll(cfg, "scrape_interval: 15s", "scrape_interval: 1s")
	if cfg == string(example) || !strings.Contains(cfg, target) {
		t.Fatal("monitoring/prometheus.yml no longer has the target and interval this test replaces")
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t))
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+base, "--log.level=warn")
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stopByPID(cmd, exited) })
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + base
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promQuery runs one instant query and returns how many series answered.
func promQuery(t *testing.T, base, expr string) (int, error) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if out.Status != "success" {
		return 0, fmt.Errorf("%s", out.Error)
	}
	return len(out.Data.Result), nil
}

// TestDashboardWithPrometheus: after a login, a delegated step-up, a
// protected call and refused ones, every dashboard panel has data.
func TestDashboardWithPrometheus(t *testing.T) {
	bin := requirePrometheus(t)
	key := newECKey(t, "es-1")
	idp := newIdP(t, "https://idp.test", key)
	hook, codes, api := preludeExampleHook(t), newOTPReceiver(t), newUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		trust https://idp.test {
			jwks_url %[2]s
		}
		login otp phone_number
		otp {
			sender webhook %[3]s/send
		}
		scope transfer:write {
			delegated %[4]s
		}
	}
}
%[1]s {
	stepup_session
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[5]s
	}
	respond 404
}
`, base, idp.jwksURL(), codes.srv.URL, hook.URL, api.srv.URL), WaitFor: []string{base + "/.well-known/jwks.json"}})
	prom := startPrometheus(t, bin, fmt.Sprintf("127.0.0.1:%d", inst.AdminPort))

	c := sessionclient.New(base)
	if r, err := c.StartLogin("phone_number", "+15555550401"); err != nil || r.Status != 204 {
		t.Fatalf("login: %v %v", r, err)
	}
	if r, err := c.CheckLogin(codes.lastCode(t, "+15555550401")); err != nil || r.Status != 200 {
		t.Fatalf("check: %v %v", r, err)
	}
	client := newClient(t)
	fetch(t, client, "POST", base+"/api/transfers", bearer(c.AccessToken))
	fetch(t, client, "POST", base+"/api/transfers", bearer(key.token(t, idp.issuer, nil)))
	tok := stepUpBySMS(t, c, codes, "transfer:write", nil).String("access_token")
	if got := fetch(t, client, "POST", base+"/api/transfers", bearer(tok)); got.status != 200 {
		t.Fatalf("stepped-up call: %d", got.status)
	}
	fetch(t, client, "POST", base+"/api/transfers", bearer(tok))

	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	raw, err := os.ReadFile(filepath.Join("..", "monitoring", "grafana-dashboard.json"))
	if err != nil || json.Unmarshal(raw, &dashboard) != nil || len(dashboard.Panels) == 0 {
		t.Fatalf("monitoring/grafana-dashboard.json: %v", err)
	}
	// Rates need two scrapes after the flow.
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			for {
				n, err := promQuery(t, prom, target.Expr)
				if err == nil && n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("panel %q: %d series (%v) for %s", p.Title, n, err, target.Expr)
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	// And the numbers are this flow's.
	if n, err := promQuery(t, prom, `caddy_stepup_grants_total{event="consumed",mode="single-use"} == 1`); err != nil || n != 1 {
		t.Errorf("consumed grants: %d series (%v)", n, err)
	}
}
