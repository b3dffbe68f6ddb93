package tests

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// Metrics on Caddy's admin /metrics and audit entries on the stepup.audit
// logger, from the real caddy, across a reload.

func telemetryCaddyfile(base, store, codesURL, upstreamURL, ttl string) string {
	return fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		%[2]s
		access_token_ttl %[5]s
		login otp phone_number
		otp {
			sender webhook %[3]s/send
		}
		scope transfer:write {
			direct {
				step verify_sms 5m
				grant_mode single-use
			}
		}
	}
}
%[1]s {
	stepup_session
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[4]s
	}
	respond 404
}
`, base, store, codesURL, upstreamURL, ttl)
}

// scrape reads the stepup metrics from the admin endpoint: series → value.
func scrape(t *testing.T, inst *testcaddy.Instance) map[string]float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", inst.AdminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_stepup_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// auditEvents are the `event` fields of the stepup.audit entries so far.
func auditEvents(t *testing.T, inst *testcaddy.Instance) ([]string, []map[string]any) {
	t.Helper()
	var names []string
	var entries []map[string]any
	for _, line := range strings.Split(inst.Log(), "\n") {
		if !strings.Contains(line, `"logger":"stepup.audit"`) {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		names = append(names, fmt.Sprint(e["event"]))
		entries = append(entries, e)
	}
	return names, entries
}

var secretish = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}|ses_[A-Za-z0-9_-]{22}\.[0-9]+\.`)

// TestMetricsAndAuditOfAFlow: a login, a step-up with its protected call,
// and refused requests move the counters they stand for, on memory and
// Redis; the audit log names each security event of the flow with one
// field set and no token or code; after a reload the counters go on.
func TestMetricsAndAuditOfAFlow(t *testing.T) {
	for _, st := range sdkStores[:2] {
		t.Run(st.name, func(t *testing.T) {
			api, codes := newUpstream(t), newOTPReceiver(t)
			port := testcaddy.FreePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			store := st.store(t)
			inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: telemetryCaddyfile(base, store, codes.srv.URL, api.srv.URL, "15m"),
				WaitFor: []string{base + "/.well-known/jwks.json"}})
			before := scrape(t, inst)
			client := newClient(t)

			c := sessionclient.New(base)
			if r, err := c.StartLogin("phone_number", "+15555550190"); err != nil || r.Status != 204 {
				t.Fatalf("login: %v %v", r, err)
			}
			if r, _ := c.CheckLogin("000000"); r.Status != 400 {
				t.Fatalf("a wrong code: %v", r)
			}
			code := codes.lastCode(t, "+15555550190")
			if r, err := c.CheckLogin(code); err != nil || r.Status != 200 {
				t.Fatalf("check: %v %v", r, err)
			}
			noScope := c.AccessToken
			refused := fetch(t, client, "POST", base+"/api/transfers", bearer(noScope))
			if refused.status != 401 {
				t.Fatalf("without the scope: %d", refused.status)
			}
			fetch(t, client, "POST", base+"/api/transfers", bearer("garbage"))
			tok := stepUpBySMS(t, c, codes, "transfer:write", nil).String("access_token")
			if got := fetch(t, client, "POST", base+"/api/transfers", bearer(tok)); got.status != 200 {
				t.Fatalf("stepped-up call: %d", got.status)
			}
			after := scrape(t, inst)
			moved := func(series string) float64 { return after[series] - before[series] }
			for series, want := range map[string]float64{
				`caddy_stepup_logins_total{method="otp",outcome="succeeded"}`:                                 1,
				`caddy_stepup_logins_total{method="otp",outcome="failed"}`:                                    1,
				`caddy_stepup_codes_sent_total{channel="sms",purpose="login"}`:                                1,
				`caddy_stepup_codes_sent_total{channel="sms",purpose="step_up"}`:                              1,
				`caddy_stepup_code_checks_total{outcome="wrong",purpose="login"}`:                             1,
				`caddy_stepup_code_checks_total{outcome="ok",purpose="step_up"}`:                              1,
				`caddy_stepup_stepups_total{outcome="review",scope="transfer:write"}`:                         1,
				`caddy_stepup_stepups_total{outcome="granted",scope="transfer:write"}`:                        1,
				`caddy_stepup_grants_total{event="issued",mode="single-use"}`:                                 1,
				`caddy_stepup_grants_total{event="consumed",mode="single-use"}`:                               1,
				`caddy_stepup_enforcement_decisions_total{outcome="pass",scope="transfer:write"}`:             1,
				`caddy_stepup_enforcement_decisions_total{outcome="step_up_required",scope="transfer:write"}`: 1,
				`caddy_stepup_enforcement_decisions_total{outcome="invalid_token",scope="transfer:write"}`:    1,
				`caddy_stepup_refreshes_total{outcome="rotated"}`:                                             1,
			} {
				if got := moved(series); got != want {
					t.Errorf("%s moved by %v, want %v", series, got, want)
				}
			}
			if after[`caddy_stepup_store_operation_seconds_count{op="get"}`] == 0 || after[`caddy_stepup_token_cache_lookups_total{result="miss"}`] == 0 {
				t.Errorf("no store timings or cache lookups: %v", after)
			}

			names, entries := auditEvents(t, inst)
			want := []string{"login.code_sent", "login.failed", "login.succeeded", "stepup.requested", "stepup.code_sent",
				"stepup.step_completed", "stepup.granted", "grant.consumed"}
			if !slices.Equal(names, want) {
				t.Errorf("audit events %v, want %v", names, want)
			}
			// Each field has one meaning: the step and the grant mode have
			// their own, and reason only says why something failed.
			wantFields := map[string]map[string]string{
				"login.failed":          {"method": "otp", "reason": "bad_code"},
				"login.succeeded":       {"method": "otp", "reason": ""},
				"stepup.requested":      {"scope": "transfer:write", "outcome": "review"},
				"stepup.code_sent":      {"channel": "sms", "purpose": ""},
				"stepup.step_completed": {"scope": "transfer:write", "step": "verify_sms", "reason": ""},
				"stepup.granted":        {"scope": "transfer:write", "grant_mode": "single-use", "reason": ""},
				"grant.consumed":        {"scope": "transfer:write", "grant_mode": "single-use", "reason": ""},
			}
			for _, e := range entries {
				for _, field := range []string{"event", "user", "session", "scope", "client_ip", "method", "channel", "outcome", "reason",
					"step", "grant_mode", "purpose", "op"} {
					if _, ok := e[field]; !ok {
						t.Errorf("audit entry %v lacks %s", e, field)
					}
				}
				for field, want := range wantFields[fmt.Sprint(e["event"])] {
					if e[field] != want {
						t.Errorf("audit entry %v: %s is %q, want %q", e, field, e[field], want)
					}
				}
				raw, _ := json.Marshal(e)
				if secretish.Match(raw) || strings.Contains(string(raw), code) || strings.Contains(string(raw), "+15555550190") {
					t.Errorf("audit entry carries a secret or an identifier: %s", raw)
				}
			}

			// A reload (another access_token_ttl): the counters carry on.
			inst.Reload(t, telemetryCaddyfile(base, store, codes.srv.URL, api.srv.URL, "10m"))
			// The old server closes its idle keep-alive connections as it stops;
			// a POST sent on one of them would read EOF, so start afresh (a
			// new connection the kernel gave the old listener is reset: sent
			// again, see fetchAfterReload; the counter below moves once).
			client.CloseIdleConnections()
			if got := fetchAfterReload(t, client, "POST", base+"/api/transfers", bearer(noScope)); got.status != 401 {
				t.Fatalf("after the reload: %d", got.status)
			}
			reloaded := scrape(t, inst)
			series := `caddy_stepup_enforcement_decisions_total{outcome="step_up_required",scope="transfer:write"}`
			if reloaded[series] != after[series]+1 {
				t.Errorf("after the reload %s = %v, want %v", series, reloaded[series], after[series]+1)
			}
			if reloaded[`caddy_stepup_logins_total{method="otp",outcome="succeeded"}`] < after[`caddy_stepup_logins_total{method="otp",outcome="succeeded"}`] {
				t.Error("a counter went back at the reload")
			}
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", inst.AdminPort))
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || strings.Contains(string(body), "usr_") || strings.Contains(string(body), "/api/transfers") {
					t.Errorf("metrics: %d; no user ID or path may be a label", resp.StatusCode)
				}
			}
		})
	}
}

// TestDPoPReplayMarkersAreMeasured: the replay marker a stepup handler
// writes for each DPoP proof goes through the measured store, on a gateway
// that mints nothing (no engine): a store create is timed per proof, and
// a replay (the marker exists) is an answer, not a store error.
func TestDPoPReplayMarkersAreMeasured(t *testing.T) {
	key := newECKey(t, "es-1")
	idp := newIdP(t, "https://idp.test", key)
	api := newUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		trust https://idp.test {
			jwks_url %s
		}
	}
}
http://127.0.0.1:%d {
	stepup payments:write
	reverse_proxy %s
}
`, idp.jwksURL(), port, api.srv.URL), WaitFor: []string{base}})
	holder, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bound := key.token(t, idp.issuer, func(h, c map[string]any) { c["cnf"] = map[string]string{"jkt": sessionclient.JKT(holder)} })
	proof := sessionclient.ResourceProof(holder, "GET", base+"/payments/1", bound, nil)
	client := newClient(t)
	call := func() answer {
		return fetch(t, client, "GET", base+"/payments/1", http.Header{"Authorization": {"DPoP " + bound}, "DPoP": {proof}})
	}
	before := scrape(t, inst)
	if got := call(); got.status != 200 {
		t.Fatalf("first use: %d %s", got.status, got.body)
	}
	if got := call(); got.status != 401 || got.code != "invalid_dpop_proof" {
		t.Fatalf("replay: %d %s", got.status, got.body)
	}
	after := scrape(t, inst)
	for series, want := range map[string]float64{
		`caddy_stepup_store_operation_seconds_count{op="create"}`:                                       2,
		`caddy_stepup_store_errors_total{op="create"}`:                                                  0,
		`caddy_stepup_enforcement_decisions_total{outcome="pass",scope="payments:write"}`:               1,
		`caddy_stepup_enforcement_decisions_total{outcome="invalid_dpop_proof",scope="payments:write"}`: 1,
	} {
		if _, ok := after[series]; !ok {
			t.Errorf("%s is not served", series)
		}
		if got := after[series] - before[series]; got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
}
