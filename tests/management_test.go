package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// The "Try it" example of Prelude's documentation: its mock hook, and its
// two curl commands sent to the gateway's admin endpoint with only the
// host changed.

// preludeExampleHook answers what the example's mock hook answers.
func preludeExampleHook(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"review","granted_for":300,"grant_mode":"single-use",` +
			`"steps":[{"order":1,"key":"verify_sms","expiration_duration":600}]}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// managementCall is one of the example's curl commands, host changed.
func managementCall(t *testing.T, inst *testcaddy.Instance, method, path, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d/stepup%s", inst.AdminPort, path), strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func configOf(t *testing.T, inst *testcaddy.Instance) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/config/apps/stepup", inst.AdminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestManagementCallsAddAScopeAtRuntime: a gateway started with no scope
// block; the example's two calls configure transfer:write at runtime; the
// step-up then works without a restart, and the change shows in GET
// /config/. A wrong key or a bad body changes nothing.
func TestManagementCallsAddAScopeAtRuntime(t *testing.T) {
	hook, codes, api := preludeExampleHook(t), newOTPReceiver(t), newUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		management_key {env.STEPUP_TEST_MANAGEMENT_KEY}
		login otp phone_number
		otp {
			sender webhook %[2]s/send
		}
	}
}
%[1]s {
	stepup_session
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[3]s
	}
	respond 404
}
`, base, codes.srv.URL, api.srv.URL), Env: []string{"STEPUP_TEST_MANAGEMENT_KEY=mgmt-key-for-tests"},
		WaitFor: []string{base + "/.well-known/jwks.json"}})
	const key = "mgmt-key-for-tests"
	stepupBody := `{
      "jwks_url": "https://example.com/.well-known/jwks.json",
      "step_keys": [],
      "allowed_scopes": [
        {
          "scope": "transfer:write",
          "mode": "delegated",
          "delegated": {
            "delegation_hook": "` + hook.URL + `"
          }
        }
      ]
    }`
	const appPath = "/v2/session/apps/app_demo/config"

	c := sessionclient.New(base)
	if r, err := c.StartLogin("phone_number", "+15555550301"); err != nil || r.Status != 204 {
		t.Fatalf("login: %v %v", r, err)
	}
	if r, err := c.CheckLogin(codes.lastCode(t, "+15555550301")); err != nil || r.Status != 200 {
		t.Fatalf("check: %v %v", r, err)
	}
	if r, _ := c.RequestStepUp("transfer:write", nil); r.Status != 403 || r.String("code") != "not_configured" {
		t.Fatalf("before the calls: %v", r)
	}

	before := configOf(t, inst)
	for name, tc := range map[string]struct{ key, body string }{
		"no key":        {"", stepupBody},
		"wrong key":     {"mgmt-key-for-test", stepupBody},
		"unknown field": {key, `{"jwks_url":"https://example.com/jwks","allowed_scopes":[],"owner":"x"}`},
		"managed mode":  {key, `{"allowed_scopes":[{"scope":"prld:phone:register","mode":"managed"}]}`},
		"bad hook":      {key, `{"allowed_scopes":[{"scope":"transfer:write","mode":"delegated","delegated":{"delegation_hook":"hooks/x"}}]}`},
		"unknown step":  {key, `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"steps":[{"order":1,"key":"verify_fax","expiration_duration":60}]}}]}`},
		"not JSON":      {key, `{"jwks_url":`},
	} {
		status, out := managementCall(t, inst, "POST", appPath+"/stepup", tc.key, tc.body)
		var e struct{ Code, Message, Type string }
		if status < 400 || json.Unmarshal([]byte(out), &e) != nil || e.Code == "" || e.Type == "" {
			t.Errorf("%s: %d %s", name, status, out)
		}
	}
	if after := configOf(t, inst); after != before {
		t.Fatalf("a refused call changed the config:\n%s\n%s", before, after)
	}

	// The example's two commands.
	status, out := managementCall(t, inst, "POST", appPath+"/stepup", key, stepupBody)
	if status != 200 || !strings.Contains(out, `"created_at"`) || !strings.Contains(out, hook.URL) {
		t.Fatalf("config/stepup: %d %s", status, out)
	}
	status, out = managementCall(t, inst, "POST", appPath+"/scopes", key, `{ "scope": "transfer:write" }`)
	if status != 200 {
		t.Fatalf("config/scopes: %d %s", status, out)
	}
	if cfg := configOf(t, inst); !strings.Contains(cfg, `"transfer:write":{"delegated":"`+hook.URL+`"}`) ||
		!strings.Contains(cfg, `{env.STEPUP_TEST_MANAGEMENT_KEY}`) || strings.Contains(cfg, key) {
		t.Fatalf("GET /config/apps/stepup after the calls: %s", cfg)
	}
	if status, out := managementCall(t, inst, "GET", appPath+"/stepup", key, ""); status != 200 || !strings.Contains(out, hook.URL) {
		t.Errorf("GET config/stepup: %d %s", status, out)
	}
	if status, out := managementCall(t, inst, "GET", appPath+"/scopes", key, ""); status != 200 || !strings.Contains(out, `"transfer:write"`) {
		t.Errorf("GET config/scopes: %d %s", status, out)
	}

	// The step-up now works, without a restart: the same session.
	if r, _ := c.Refresh(""); r.Status != 200 {
		t.Fatalf("the session after the change: %v", r)
	}
	tok := stepUpBySMS(t, c, codes, "transfer:write", map[string]string{"amount": "500"}).String("access_token")
	if got := fetch(t, newClient(t), "POST", base+"/api/transfers", bearer(tok)); got.status != 200 || api.hits.Load() != 1 {
		t.Fatalf("the stepped-up call: %d", got.status)
	}
}
