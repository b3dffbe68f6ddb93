package tests

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// A gateway with both homes of the admin routes: Caddy's admin endpoint
// (admin.api.stepup, guarded by management_key) and a stepup_management
// site on a listener of its own. Every outbound host (delegation hook,
// custom steps' JWKS) is one recording server, so that a test sees
// everything the gateway sent anywhere.

// recordedRequest is one request the recording host received.
type recordedRequest struct {
	uri    string // as sent on the wire, escapes kept
	header http.Header
	body   string
}

// recordingHost answers hooks with the seed mock hook's decision and JWKS
// fetches with an empty key set, and keeps every request.
type recordingHost struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recordedRequest
}

func newRecordingHost(t *testing.T) *recordingHost {
	t.Helper()
	h := &recordingHost{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, recordedRequest{uri: r.RequestURI, header: r.Header.Clone(), body: string(body)})
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/jwks/") {
			_, _ = io.WriteString(w, `{"keys":[]}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"review","granted_for":300,"grant_mode":"single-use",`+
			`"steps":[{"order":1,"key":"verify_sms","expiration_duration":600}]}`)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *recordingHost) requests() []recordedRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recordedRequest(nil), h.reqs...)
}

// waitFor waits up to 20 s for a request whose URI starts with prefix.
func (h *recordingHost) waitFor(t *testing.T, prefix string) recordedRequest {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, r := range h.requests() {
			if strings.HasPrefix(r.uri, prefix) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request for %s reached the host; got %v", prefix, h.requests())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// managementEnv is one running gateway with its secrets.
type managementEnv struct {
	inst      *testcaddy.Instance
	base      string // the site
	mgmtBase  string // the stepup_management listener
	adminBase string // Caddy's admin endpoint
	adminKey  string // management_key, on the admin endpoint
	mgmtKey   string // stepup_management's key
	secret    string // an environment variable no posted value may reach
	codes     *otpReceiver
	host      *recordingHost
	api       *upstream
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startManagementGateway starts the gateway; appOptions go into the stepup
// global option. The management site has Caddy's access log on, so that a
// test can check what reaches it.
func startManagementGateway(t *testing.T, appOptions string) *managementEnv {
	t.Helper()
	env := &managementEnv{codes: newOTPReceiver(t), host: newRecordingHost(t), api: newUpstream(t),
		adminKey: "admin-key-" + randomHex(t, 16), mgmtKey: "mgmt-key-" + randomHex(t, 16), secret: "env-secret-" + randomHex(t, 16)}
	port, mport := testcaddy.FreePort(t), testcaddy.FreePort(t)
	env.base, env.mgmtBase = fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", mport)
	env.inst = testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	default_bind 127.0.0.1
	stepup {
		issuer %[1]s
		management_key {env.STEPUP_TEST_ADMIN_KEY}
		login otp phone_number
		otp {
			sender webhook %[3]s/send
		}
		%[5]s
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
%[2]s {
	log
	stepup_management {env.STEPUP_TEST_MANAGEMENT_KEY}
	respond "not here" 404
}
`, env.base, env.mgmtBase, env.codes.srv.URL, env.api.srv.URL, appOptions),
		Env:     []string{"STEPUP_TEST_ADMIN_KEY=" + env.adminKey, "STEPUP_TEST_MANAGEMENT_KEY=" + env.mgmtKey, "STEPUP_TEST_SECRET=" + env.secret},
		WaitFor: []string{env.base + "/.well-known/jwks.json", env.mgmtBase + "/"}})
	env.adminBase = fmt.Sprintf("http://127.0.0.1:%d", env.inst.AdminPort)
	return env
}

// home is one place the admin routes are served, with its key.
type home struct {
	name, base, key string
}

func (env *managementEnv) homes() []home {
	return []home{{"admin endpoint", env.adminBase, env.adminKey}, {"stepup_management", env.mgmtBase, env.mgmtKey}}
}

// call sends one request to a home with the given Authorization value
// ("" for none) and a JSON body.
func (env *managementEnv) call(t *testing.T, method, url, authorization, body string) answer {
	t.Helper()
	header := http.Header{"Content-Type": {"application/json"}}
	if authorization != "" {
		header.Set("Authorization", authorization)
	}
	if method == "GET" && body == "" {
		// Calls here follow config changes, each a reload: a GET the
		// kernel reset in a closing listener's queue is sent again.
		return fetchAfterReload(t, newClient(t), method, url, header)
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return fetchBody(t, newClient(t), method, url, header, b)
}

// config is the whole config Caddy runs, as its admin endpoint shows it.
func (env *managementEnv) config(t *testing.T) string {
	t.Helper()
	return string(fetch(t, newClient(t), "GET", env.adminBase+"/config/", nil).body)
}

// login opens a session for phone on the site.
func (env *managementEnv) login(t *testing.T, phone string) (*sessionclient.Client, string) {
	t.Helper()
	c := sessionclient.New(env.base)
	if r, err := c.StartLogin("phone_number", phone); err != nil || r.Status != 204 {
		t.Fatalf("login: %v %v", r, err)
	}
	if r, err := c.CheckLogin(env.codes.lastCode(t, phone)); err != nil || r.Status != 200 {
		t.Fatalf("check: %v %v", r, err)
	}
	return c, fmt.Sprint(sessionclient.Claims(c.AccessToken)["sub"])
}

// signingKeyLines are the base64 lines of the signing key Caddy keeps in
// its storage (the key a `{file.*}` placeholder would read).
func (env *managementEnv) signingKeyLines(t *testing.T) (path string, lines []string) {
	t.Helper()
	path = filepath.Join(env.inst.Dir, "data", "caddy", "stepup", "signing_key.pem")
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the signing key in storage: %v", err)
	}
	for _, line := range strings.Split(string(pem), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no key material in %s", path)
	}
	return path, lines
}

// leaks lists which of the secrets appear in text.
func leaks(text string, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			found = append(found, s)
		}
	}
	return found
}

// sdkRefusal checks a refusal's status and the SDK's error shape.
func sdkRefusal(t *testing.T, what string, got answer, status int) {
	t.Helper()
	if got.status != status || got.code == "" || !strings.Contains(string(got.body), `"type"`) || !strings.Contains(string(got.body), `"message"`) {
		t.Errorf("%s: %d %s, want %d in the SDK's error shape", what, got.status, got.body, status)
	}
}
