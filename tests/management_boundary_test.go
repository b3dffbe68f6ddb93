package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

const managementPath = "/stepup/v2/session/apps/app_demo/config"

// TestPostedPlaceholdersAreNeverResolved: a posted {file.*} naming the
// signing key in Caddy's storage, {env.*}, {http.*}, nested, backslashed
// and JSON-escaped braces, in every string field of both management
// calls, on both homes: each is a 400 in the SDK's shape that quotes only
// what was posted; the config is unchanged; nothing reaches the hook or
// JWKS host; Caddy's log holds neither the key nor the secret. A brace
// written %7B in a URL is accepted and stays literal all the way to the
// hosts.
func TestPostedPlaceholdersAreNeverResolved(t *testing.T) {
	env := startManagementGateway(t, "")
	keyPath, keyLines := env.signingKeyLines(t)
	storage := filepath.Join(env.inst.Dir, "data", "caddy")
	hook, jwks := env.host.srv.URL+"/hook/", env.host.srv.URL+"/jwks/"
	fields := map[string]string{ // %[1]s: the posted value; %[2]s: the hook; %[3]s: the JWKS URL
		"jwks_url":            `{"jwks_url":"%[3]s%[1]s","step_keys":[{"key":"kyc","description":"d"}],"allowed_scopes":[]}`,
		"step_keys.key":       `{"jwks_url":"%[3]sj","step_keys":[{"key":"%[1]s","description":"d"}],"allowed_scopes":[]}`,
		"step_keys.desc":      `{"jwks_url":"%[3]sj","step_keys":[{"key":"kyc","description":"%[1]s"}],"allowed_scopes":[]}`,
		"scope":               `{"allowed_scopes":[{"scope":"%[1]s","mode":"block"}]}`,
		"mode":                `{"allowed_scopes":[{"scope":"transfer:write","mode":"%[1]s"}]}`,
		"delegation_hook":     `{"allowed_scopes":[{"scope":"transfer:write","mode":"delegated","delegated":{"delegation_hook":"%[2]s%[1]s"}}]}`,
		"whole hook":          `{"allowed_scopes":[{"scope":"transfer:write","mode":"delegated","delegated":{"delegation_hook":"%[1]s"}}]}`,
		"hook's host":         `{"allowed_scopes":[{"scope":"transfer:write","mode":"delegated","delegated":{"delegation_hook":"http://%[1]s/h"}}]}`,
		"identifier_types":    `{"allowed_scopes":[{"scope":"transfer:write","mode":"direct","direct":{"identifier_types":["%[1]s"],"steps":[{"order":1,"key":"verify_sms"}]}}]}`,
		"grant_mode":          `{"allowed_scopes":[{"scope":"transfer:write","mode":"direct","direct":{"grant_mode":"%[1]s","steps":[{"order":1,"key":"verify_sms"}]}}]}`,
		"steps.key":           `{"allowed_scopes":[{"scope":"transfer:write","mode":"direct","direct":{"steps":[{"order":1,"key":"%[1]s"}]}}]}`,
		"config/scopes scope": `{"scope":"%[1]s"}`,
	}
	values := []string{
		`{file.` + keyPath + `}`,
		`{file.` + storage + `/stepup/signing_key.pem}`,
		`{env.STEPUP_TEST_SECRET}`,
		`{env.STEPUP_TEST_MANAGEMENT_KEY}`,
		`{http.request.header.Authorization}`,
		`{http.request.uri}`,
		`{{env.STEPUP_TEST_SECRET}}`,
		`{env.{env.STEPUP_TEST_SECRET}}`,
		`x{env.STEPUP_TEST_SECRET`,
		`env.STEPUP_TEST_SECRET}`,
		`\\{env.STEPUP_TEST_SECRET\\}`,
		`\u007benv.STEPUP_TEST_SECRET\u007d`,
		`\u007Bfile.` + keyPath + `\u007D`,
	}
	before := env.config(t)
	for _, h := range env.homes() {
		for field, template := range fields {
			path := managementPath + "/stepup"
			if strings.HasPrefix(field, "config/scopes") {
				path = managementPath + "/scopes"
			}
			for _, value := range values {
				got := env.call(t, "POST", h.base+path, "Bearer "+h.key, fmt.Sprintf(template, value, hook, jwks))
				what := fmt.Sprintf("%s: %s = %s", h.name, field, value)
				sdkRefusal(t, what, got, 400)
				if !strings.Contains(string(got.body), "{ or }") {
					t.Errorf("%s: not refused for its braces: %s", what, got.body)
				}
				if l := leaks(string(got.body), append(keyLines, env.secret, env.mgmtKey, env.adminKey, "BEGIN")...); l != nil {
					t.Fatalf("%s: the answer holds %v: %s", what, l, got.body)
				}
			}
		}
		// APP_ID is posted too: braces there name no route.
		for _, appID := range []string{"%7Benv.STEPUP_TEST_SECRET%7D", "%7Bfile." + strings.ReplaceAll(keyPath, "/", "%2F") + "%7D"} {
			got := env.call(t, "POST", h.base+"/stepup/v2/session/apps/"+appID+"/config/scopes", "Bearer "+h.key, `{"scope":"a"}`)
			sdkRefusal(t, h.name+": APP_ID "+appID, got, 404)
		}
	}
	if after := env.config(t); after != before {
		t.Fatalf("a refused call changed the config:\n%s\n%s", before, after)
	}
	if reqs := env.host.requests(); len(reqs) != 0 {
		t.Fatalf("refused calls reached the hook or JWKS host: %v", reqs)
	}
	if l := leaks(env.inst.Log(), append(keyLines, env.secret, env.mgmtKey, env.adminKey)...); l != nil {
		t.Fatalf("Caddy's log holds %v", l)
	}

	// %7B is a literal brace in a URL: accepted, stored as posted, sent as
	// posted, and never the secret.
	const encoded = "%7Benv.STEPUP_TEST_SECRET%7D"
	body := fmt.Sprintf(`{"jwks_url":"%[2]s%[1]s","step_keys":[{"key":"kyc","description":"%[1]s"}],"allowed_scopes":[`+
		`{"scope":"transfer:write","mode":"delegated","delegated":{"delegation_hook":"%[3]s%[1]s"}}]}`, encoded, jwks, hook)
	if got := env.call(t, "POST", env.mgmtBase+managementPath+"/stepup", "Bearer "+env.mgmtKey, body); got.status != 200 {
		t.Fatalf("percent-encoded braces: %d %s", got.status, got.body)
	}
	if cfg := env.config(t); !strings.Contains(cfg, `"delegated":"`+hook+encoded+`"`) || !strings.Contains(cfg, `"jwks_url":"`+jwks+encoded+`"`) {
		t.Fatalf("not stored as posted: %s", cfg)
	}
	c, _ := env.login(t, "+15555550401")
	if r, err := c.RequestStepUp("transfer:write", nil); err != nil || r.Status != 200 {
		t.Fatalf("step-up through the posted hook: %v %v", r, err)
	}
	if got := env.host.waitFor(t, "/hook/"); got.uri != "/hook/"+encoded {
		t.Errorf("the hook was called at %s", got.uri)
	}
	if got := env.host.waitFor(t, "/jwks/"); got.uri != "/jwks/"+encoded {
		t.Errorf("the JWKS was fetched at %s", got.uri)
	}
	for _, r := range env.host.requests() {
		if l := leaks(r.uri+r.body+fmt.Sprint(r.header), append(keyLines, env.secret, env.mgmtKey, env.adminKey)...); l != nil {
			t.Fatalf("a request to %s carried %v", r.uri, l)
		}
	}
	if l := leaks(env.inst.Log(), append(keyLines, env.secret, env.mgmtKey, env.adminKey)...); l != nil {
		t.Fatalf("Caddy's log holds %v", l)
	}
}

// TestManagementListenerServesWithTheKeyOnly: the stepup_management site
// answers the management calls and the admin routes with its key and
// refuses every one of them without it; it serves none of Caddy's admin
// endpoint (/config, /load, /stop, /id, /debug), with or without the key;
// the key is in no answer and in no log, even with the site's access log
// on; management_key guards every admin.api.stepup route.
func TestManagementListenerServesWithTheKeyOnly(t *testing.T) {
	env := startManagementGateway(t, "")
	c, user := env.login(t, "+15555550402")
	before := env.config(t)
	seed := fmt.Sprintf(`{"jwks_url":"https://example.com/.well-known/jwks.json","step_keys":[],"allowed_scopes":[`+
		`{"scope":"transfer:write","mode":"delegated","delegated":{"delegation_hook":"%shook/seed"}}]}`, env.host.srv.URL+"/")
	calls := []struct{ method, path, body string }{
		{"GET", "/stepup/users/" + user + "/sessions", ""},
		{"DELETE", "/stepup/users/" + user + "/sessions", ""},
		{"DELETE", "/stepup/users/" + user + "/grants", ""},
		{"GET", "/stepup/challenges/chl_" + strings.Repeat("A", 22), ""},
		{"GET", managementPath + "/stepup", ""},
		{"POST", managementPath + "/stepup", seed},
		{"POST", managementPath + "/scopes", `{"scope":"transfer:write"}`},
		{"GET", "/stepup/nothing", ""},
	}
	for _, h := range env.homes() {
		otherKey := env.adminKey
		if h.key == env.adminKey {
			otherKey = env.mgmtKey
		}
		for name, auth := range map[string]string{
			"no key": "", "wrong key": "Bearer " + h.key[:len(h.key)-1] + "x", "key as Basic": "Basic " + h.key,
			"the other home's key": "Bearer " + otherKey,
		} {
			for _, call := range calls {
				got := env.call(t, call.method, h.base+call.path, auth, call.body)
				sdkRefusal(t, fmt.Sprintf("%s, %s: %s %s", h.name, name, call.method, call.path), got, 401)
			}
		}
	}
	if after := env.config(t); after != before {
		t.Fatalf("calls without the key changed the config")
	}
	if r, _ := c.Refresh(""); r.Status != 200 {
		t.Fatalf("calls without the key ended a session: %v", r)
	}

	// Caddy's admin endpoint is not on the management listener, key or not.
	for _, auth := range []string{"", "Bearer " + env.mgmtKey} {
		for _, call := range []struct{ method, path, body string }{
			{"GET", "/config/", ""}, {"GET", "/config/apps/stepup", ""}, {"GET", "/config/apps/http", ""},
			{"DELETE", "/config/apps/stepup/management/key", ""}, {"POST", "/config/apps/stepup/issuer", `"http://evil.example"`},
			{"POST", "/load", `{"apps":{}}`}, {"POST", "/stop", ""}, {"GET", "/id/x", ""}, {"GET", "/debug/pprof/", ""},
			{"GET", "/metrics", ""}, {"GET", "/reverse_proxy/upstreams", ""},
		} {
			got := env.call(t, call.method, env.mgmtBase+call.path, auth, call.body)
			if got.status != 404 || string(got.body) != "not here" {
				t.Errorf("%s %s on the management listener: %d %s", call.method, call.path, got.status, got.body)
			}
		}
	}
	if after := env.config(t); after != before {
		t.Fatalf("the management listener changed the config through Caddy's routes")
	}

	// With the key: the admin routes and both management calls.
	m := func(method, path, body string) answer {
		return env.call(t, method, env.mgmtBase+path, "Bearer "+env.mgmtKey, body)
	}
	if got := m("GET", "/stepup/users/"+user+"/sessions", ""); got.status != 200 || !strings.Contains(string(got.body), `"user_agent"`) {
		t.Fatalf("sessions with the key: %d %s", got.status, got.body)
	}
	if got := m("POST", managementPath+"/stepup", seed); got.status != 200 || !strings.Contains(string(got.body), "hook/seed") {
		t.Fatalf("config/stepup with the key: %d %s", got.status, got.body)
	}
	if got := m("POST", managementPath+"/scopes", `{"scope":"transfer:write"}`); got.status != 200 {
		t.Fatalf("config/scopes with the key: %d %s", got.status, got.body)
	}
	// The new config's handler answers with the same key; the key is in
	// no answer, and the config still holds its placeholder.
	for _, path := range []string{managementPath + "/stepup", managementPath + "/scopes"} {
		got := m("GET", path, "")
		if got.status != 200 || leaks(string(got.body), env.mgmtKey, env.adminKey, "STEPUP_TEST") != nil {
			t.Errorf("GET %s after the change: %d %s", path, got.status, got.body)
		}
	}
	if cfg := env.config(t); !strings.Contains(cfg, `"key":"{env.STEPUP_TEST_MANAGEMENT_KEY}"`) ||
		!strings.Contains(cfg, `"key":"{env.STEPUP_TEST_ADMIN_KEY}"`) || leaks(cfg, env.mgmtKey, env.adminKey) != nil {
		t.Errorf("the keys in the config after the change: %s", cfg)
	}
	if got := m("DELETE", "/stepup/users/"+user+"/sessions", ""); got.status != 200 || !strings.Contains(string(got.body), `"revoked":1`) {
		t.Fatalf("ending the sessions with the key: %d %s", got.status, got.body)
	}
	if r, _ := c.Refresh(""); r.Status != 401 {
		t.Errorf("a session ended through the management listener refreshed: %v", r)
	}
	if got := env.call(t, "GET", env.adminBase+"/stepup/users/"+user+"/sessions", "Bearer "+env.adminKey, ""); got.status != 200 {
		t.Errorf("the admin endpoint with management_key: %d %s", got.status, got.body)
	}
	if l := leaks(env.inst.Log(), env.mgmtKey, env.adminKey, env.secret); l != nil {
		t.Fatalf("Caddy's log (access log on) holds %v", l)
	}
	if !strings.Contains(env.inst.Log(), `"http.log.access`) {
		t.Fatal("the management site's access log is not on: the check above proved nothing")
	}
}

// TestManagementHandlerRefusesToLoadWithoutAKey: no key, a key whose
// placeholder resolves to nothing, a short key: Caddy does not start, and
// says why without quoting the key.
func TestManagementHandlerRefusesToLoadWithoutAKey(t *testing.T) {
	for name, directive := range map[string]string{
		"no key":              "stepup_management",
		"an unset variable":   "stepup_management {env.STEPUP_TEST_UNSET_VARIABLE}",
		"a short key":         "stepup_management short-key-1234",
		"a key in a bad file": "stepup_management {file./nonexistent/stepup-key}",
	} {
		out := testcaddy.StartErr(t, fmt.Sprintf("{\n\tadmin {admin}\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}\nhttp://127.0.0.1:%d {\n\t%s\n}\n",
			testcaddy.FreePort(t), directive))
		if !strings.Contains(out, "stepup_management") || !strings.Contains(out, "key") || strings.Contains(out, "short-key-1234") {
			t.Errorf("%s: %s", name, out)
		}
	}
}

// TestRefusedChangeLeavesEverythingAsItWas: a config that loaded, a good
// change, then changes Caddy refuses (the signing key file is gone, so the
// new config cannot start; an operator's bad /config edit): each is
// answered without Caddy's text and changes nothing, and afterwards the
// admin routes of both homes and the site answer as before.
func TestRefusedChangeLeavesEverythingAsItWas(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "signing-key.pem")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env := startManagementGateway(t, "signing_key "+keyFile)
	c, user := env.login(t, "+15555550403")
	hookBody := func(name string) string {
		return fmt.Sprintf(`{"allowed_scopes":[{"scope":"transfer:write","mode":"delegated","delegated":{"delegation_hook":"%s/hook/%s"}}]}`,
			env.host.srv.URL, name)
	}
	if got := env.call(t, "POST", env.adminBase+managementPath+"/stepup", "Bearer "+env.adminKey, hookBody("good")); got.status != 200 {
		t.Fatalf("the good change: %d %s", got.status, got.body)
	}
	stillServing := func(when string) {
		t.Helper()
		for _, h := range env.homes() {
			got := env.call(t, "GET", h.base+"/stepup/users/"+user+"/sessions", "Bearer "+h.key, "")
			if got.status != 200 || !strings.Contains(string(got.body), `"sessions":[{`) {
				t.Errorf("%s, %s: the admin routes answer %d %s", when, h.name, got.status, got.body)
			}
			got = env.call(t, "GET", h.base+managementPath+"/stepup", "Bearer "+h.key, "")
			if got.status != 200 || !strings.Contains(string(got.body), "/hook/good") {
				t.Errorf("%s, %s: config/stepup reads %d %s", when, h.name, got.status, got.body)
			}
		}
		if r, _ := c.Refresh(""); r.Status != 200 {
			t.Errorf("%s: the site refused a refresh: %v", when, r)
		}
		if r, _ := c.RequestStepUp("transfer:write", nil); r.Status != 200 {
			t.Errorf("%s: the site refused a step-up request: %v", when, r)
		}
	}
	stillServing("after the good change")
	before := env.config(t)

	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	for _, h := range env.homes() {
		got := env.call(t, "POST", h.base+managementPath+"/stepup", "Bearer "+h.key, hookBody("refused"))
		sdkRefusal(t, h.name+": a change Caddy refuses", got, 400)
		if l := leaks(string(got.body), keyFile, "signing_key", "loading", "no such file"); l != nil {
			t.Errorf("%s: the refusal passes on Caddy's text %v: %s", h.name, l, got.body)
		}
		if after := env.config(t); after != before {
			t.Fatalf("%s: a refused change changed the config", h.name)
		}
		stillServing("after a refused change through the " + h.name)
	}
	// An operator's edit Caddy refuses, through /config itself.
	if got := env.call(t, "POST", env.adminBase+"/config/apps/stepup/issuer", "", `"not a URL"`); got.status < 400 {
		t.Fatalf("a bad issuer loaded: %d %s", got.status, got.body)
	}
	stillServing("after a refused /config edit")
	if reqs := env.host.requests(); len(reqs) == 0 || strings.Contains(fmt.Sprint(reqs), "/hook/refused") {
		t.Errorf("the hooks called: %v", reqs)
	}

	// The key back: changes load again.
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := env.call(t, "POST", env.mgmtBase+managementPath+"/stepup", "Bearer "+env.mgmtKey, hookBody("good-again")); got.status != 200 {
		t.Fatalf("a change once the key is back: %d %s", got.status, got.body)
	}
	stillServing("after the key came back")
}
