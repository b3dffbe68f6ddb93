package tests

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// The real Prelude web SDK (@prelude.so/js-sdk 0.6.0, from npm, unmodified)
// driven from Node against the real built caddy: tests/sdk/*.test.mjs do
// what a web page does, these tests start everything around them (caddy
// with its internal CA, the OTP webhook receiver, the delegation hook and
// the customer backend) and fail with node's full output.

// requireNodeEnv turns a missing Node setup into a failure instead of a
// skip (CI sets it, after `npm ci` in tests/sdk).
const requireNodeEnv = "STEPUP_REQUIRE_NODE"

// stepUpEnv enables the step-up (issue 4) run of the real SDK.
const stepUpEnv = "STEPUP_SDK_STEPUP"

// requireSDK returns the absolute path of tests/sdk once node and the
// installed SDK are there; otherwise it skips, or fails under
// STEPUP_REQUIRE_NODE.
func requireSDK(t *testing.T) string {
	t.Helper()
	return requireNodePackages(t, "sdk", "@prelude.so/js-sdk", "real SDK tests")
}

// requireNodePackages returns the absolute path of the Node test folder dir
// once node is on PATH and `npm ci` has installed pkg there; otherwise it
// skips the test, or fails it under STEPUP_REQUIRE_NODE (CI sets it).
func requireNodePackages(t *testing.T, dir, pkg, what string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	problem := ""
	if _, err := exec.LookPath("node"); err != nil {
		problem = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(abs, "node_modules", pkg, "package.json")); err != nil {
		problem = "tests/" + dir + "/node_modules is missing: run `npm ci` in tests/" + dir
	}
	if problem == "" {
		return abs
	}
	if os.Getenv(requireNodeEnv) != "" {
		t.Fatalf("%s: %s (and %s is set)", what, problem, requireNodeEnv)
	}
	t.Skipf("%s: %s (set %s to make this a failure)", what, problem, requireNodeEnv)
	return ""
}

// sdkGateway is caddy serving the session API over HTTPS with a
// certificate from its internal CA, as the SDK needs (https is forced).
type sdkGateway struct {
	domain string // the SDK's `domain`: 127.0.0.1:<https port>
	root   string // the internal CA's root certificate (PEM file)
	inst   *testcaddy.Instance
}

// startSDKGateway runs caddy with the given `store` line (or block),
// more stepup options, and more site directives.
func startSDKGateway(t *testing.T, otpURL, store, options, site string) *sdkGateway {
	t.Helper()
	return startSDKGatewayAt(t, testcaddy.FreePort(t), otpURL, store, options, site)
}

// startSDKGatewayAt is startSDKGateway on a chosen HTTPS port (for a
// provider that must know the gateway's callback before it starts).
func startSDKGatewayAt(t *testing.T, httpsPort int, otpURL, store, options, site string) *sdkGateway {
	t.Helper()
	g := &sdkGateway{domain: fmt.Sprintf("127.0.0.1:%d", httpsPort)}
	g.inst = testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	local_certs
	skip_install_trust
	auto_https disable_redirects
	http_port %[1]d
	https_port %[2]d
	stepup {
		issuer https://%[3]s
		%[4]s
		login otp phone_number email_address
		otp {
			sender webhook %[5]s/send
			resend_cooldown 1ms
		}
		%[6]s
	}
}
https://%[3]s {
	stepup_session
	%[7]s
}
`, testcaddy.FreePort(t), httpsPort, g.domain, store, otpURL, options, site),
		WaitFor: []string{"https://" + g.domain + "/.well-known/jwks.json"}})
	g.root = filepath.Join(g.inst.Dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
	g.checkTrust(t)
	return g
}

// checkTrust waits for the internal CA's root and checks that it alone
// makes the gateway's certificate trusted, as NODE_EXTRA_CA_CERTS will.
func (g *sdkGateway) checkTrust(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		lastErr = g.trustedGet()
		if lastErr == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the gateway is not reachable over TLS trusting only %s: %v", g.root, lastErr)
}

func (g *sdkGateway) trustedGet() error {
	pem, err := os.ReadFile(g.root)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("root.crt holds no certificate")
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + g.domain + "/.well-known/jwks.json")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks: status %d", resp.StatusCode)
	}
	return nil
}

// nodeSummary matches the counts node's test runner prints last (spec
// reporter "ℹ pass 3", TAP "# pass 3").
var nodeSummary = regexp.MustCompile(`(?m)^\S* ?(tests|pass|fail|skipped|cancelled) (\d+)$`)

// runNode runs one test file of tests/sdk against the gateway and fails
// with node's whole output if it fails, or if it ran no test.
func (g *sdkGateway) runNode(t *testing.T, dir, script string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+g.root,
		"STEPUP_DOMAIN="+g.domain,
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	counts := map[string]int{}
	for _, m := range nodeSummary.FindAllStringSubmatch(string(out), -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	if err != nil {
		t.Fatalf("node --test %s failed: %v\n%s", script, err, out)
	}
	if counts["pass"] == 0 || counts["fail"] != 0 || counts["pass"] != counts["tests"] {
		t.Fatalf("node --test %s: %d tests, %d passed, %d failed, %d skipped: every test must run and pass\n%s",
			script, counts["tests"], counts["pass"], counts["fail"], counts["skipped"], out)
	}
	t.Logf("node --test %s:\n%s", script, out)
}

// sdkStores are the stores every real-SDK run is repeated on.
var sdkStores = []struct {
	name  string
	store func(t *testing.T) string
}{
	{"memory", func(*testing.T) string { return "store memory" }},
	{"redis", func(t *testing.T) string { return "store redis redis://" + redistest.Start(t).Addr + "/0" }},
	{"cluster", func(t *testing.T) string {
		return "store redis {\n\t\t\tcluster " + strings.Join(redistest.StartCluster(t, 3).Addrs, " ") + "\n\t\t}"
	}},
}

// TestRealSDKLogin: OTP login by phone number (resend, wrong then right
// code), refresh, session list, a second browser revoking the others,
// logout, and e-mail login, all by the real SDK, on every store.
func TestRealSDKLogin(t *testing.T) {
	dir := requireSDK(t)
	for _, st := range sdkStores {
		t.Run(st.name, func(t *testing.T) {
			codes := newOTPReceiver(t)
			g := startSDKGateway(t, codes.srv.URL, st.store(t), "", "log")
			g.runNode(t, dir, "login.test.mjs", "STEPUP_CODES_URL="+codes.srv.URL+"/codes")
			// The site's access log was on: what the real SDK sent and
			// received is in it (its resends and session lists; the
			// exchanges that carry a refresh token or a login flow ID in a
			// header are left out), without a refresh token or a flow ID.
			g.inst.Stop()
			out := g.inst.Log()
			if !strings.Contains(out, `"uri":"/v1/session/login/otp/retry"`) || !strings.Contains(out, `"uri":"/v1/session/me/list"`) {
				t.Fatal("no access log entries for the SDK's resends and session lists: the search below would prove nothing")
			}
			if m := sdkSecretInLog.FindString(out); m != "" {
				t.Errorf("caddy's output holds a secret of the SDK's session: %s…", m[:12])
			}
		})
	}
}

// sdkSecretInLog matches a refresh token (session ID, generation, HMAC)
// or a login flow ID.
var sdkSecretInLog = regexp.MustCompile(`ses_[A-Za-z0-9_-]{22}\.[0-9]+\.[A-Za-z0-9_-]{43}|vfy_[A-Za-z0-9_-]{22}`)

// sdkHook is the customer's delegation hook for the step-up run. It
// records what it was asked and answers by scope.
type sdkHook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	asks []sdkHookAsk
}

// sdkHookAsk is one signed hook call.
type sdkHookAsk struct {
	Scope    string            `json:"scope_requested"`
	UserID   string            `json:"user_id"`
	Metadata map[string]string `json:"metadata"`
	Signed   bool              `json:"-"`
}

// sdkHookAnswers: transfer:write needs an SMS code then a KYC review and
// is granted once; block:me is refused; continue:me is granted at once for
// the session.
var sdkHookAnswers = map[string]string{
	"transfer:write": `{"status":"review","grant_mode":"single-use","granted_for":300,
		"steps":[{"order":1,"key":"verify_sms","expiration_duration":300},{"order":2,"key":"kyc_review","expiration_duration":600}]}`,
	"block:me":    `{"status":"block"}`,
	"continue:me": `{"status":"continue","grant_mode":"session-bound","granted_for":300}`,
}

func newSDKHook(t *testing.T) *sdkHook {
	t.Helper()
	h := &sdkHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ask sdkHookAsk
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&ask) != nil {
			http.Error(w, "bad hook call", http.StatusBadRequest)
			return
		}
		ask.Signed = r.Header.Get("X-Webhook-Signature") != "" && r.Header.Get("X-Webhook-Signature-Key-Id") != ""
		h.mu.Lock()
		h.asks = append(h.asks, ask)
		h.mu.Unlock()
		answer, ok := sdkHookAnswers[ask.Scope]
		if !ok {
			http.Error(w, "unexpected scope", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *sdkHook) calls() []sdkHookAsk {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdkHookAsk(nil), h.asks...)
}

// sdkBackend is the customer's backend for custom steps: it publishes its
// RS256 key at /jwks.json and, at GET /verification-token?challenge_id=
// &sub=&key=, vouches that the step is completed (prelude-protocol.md
// §8.5), as a real backend would after its KYC provider said yes.
type sdkBackend struct {
	srv *httptest.Server
	key *idpKey
}

func newSDKBackend(t *testing.T) *sdkBackend {
	t.Helper()
	b := &sdkBackend{key: newRSAKey(t, "backend-1")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwksJSON(b.key))
	})
	mux.HandleFunc("GET /verification-token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("challenge_id") == "" || q.Get("sub") == "" || q.Get("key") == "" {
			http.Error(w, "challenge_id, sub and key are required", http.StatusBadRequest)
			return
		}
		jti := make([]byte, 16)
		_, _ = rand.Read(jti)
		now := time.Now()
		token, err := b.key.signJWS(map[string]any{"alg": "RS256", "typ": "JWT", "kid": b.key.kid}, map[string]any{
			"sub": q.Get("sub"), "challenge_id": q.Get("challenge_id"), "key": q.Get("key"), "status": "completed",
			"jti": b64.EncodeToString(jti), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		})
		if err != nil {
			http.Error(w, "signing failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": token})
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

// TestRealSDKStepUp (issue 4, run with STEPUP_SDK_STEPUP=1): the real SDK
// steps up through the delegation hook (an SMS code, then a custom step
// vouched for by the customer backend), redeems the challenge, spends the
// single-use grant once; the hook's block and continue answers; a scope
// the gateway does not offer.
func TestRealSDKStepUp(t *testing.T) {
	if os.Getenv(stepUpEnv) != "1" {
		t.Skipf("the real SDK's step-up run needs %s=1", stepUpEnv)
	}
	dir := requireSDK(t)
	for _, st := range sdkStores {
		t.Run(st.name, func(t *testing.T) {
			codes := newOTPReceiver(t)
			hook := newSDKHook(t)
			backend := newSDKBackend(t)
			api := newUpstream(t)
			options := fmt.Sprintf(`custom_steps {
			jwks_url %[1]s/jwks.json
			keys kyc_review
		}
		scope transfer:write {
			delegated %[2]s/hook
		}
		scope block:me {
			delegated %[2]s/hook
		}
		scope continue:me {
			delegated %[2]s/hook
		}`, backend.srv.URL, hook.srv.URL)
			site := fmt.Sprintf(`route /api/transfers* {
		stepup transfer:write
		reverse_proxy %s
	}
	respond 404`, api.srv.URL)
			g := startSDKGateway(t, codes.srv.URL, st.store(t), options, site)
			g.runNode(t, dir, "stepup.test.mjs", stepUpEnv+"=1",
				"STEPUP_CODES_URL="+codes.srv.URL+"/codes", "STEPUP_BACKEND_URL="+backend.srv.URL)

			if n := api.hits.Load(); n != 1 {
				t.Errorf("the protected API was reached %d times, want exactly 1 (single-use grant)", n)
			}
			asked := map[string]sdkHookAsk{}
			for _, ask := range hook.calls() {
				if !ask.Signed {
					t.Errorf("hook call for %s is not signed", ask.Scope)
				}
				asked[ask.Scope] = ask
			}
			transfer, ok := asked["transfer:write"]
			if !ok || len(asked) != 3 {
				t.Fatalf("hook was asked for %v, want transfer:write, block:me, continue:me", asked)
			}
			if transfer.Metadata["amount"] != "500" || transfer.Metadata["currency"] != "USD" || !strings.HasPrefix(transfer.UserID, "usr_") {
				t.Errorf("hook call for transfer:write: %+v", transfer)
			}
		})
	}
}

// TestRealSDKACR (issue 11, run with STEPUP_SDK_STEPUP=1): routes that
// require an acr or a recent authentication (RFC 9470); the real SDK steps
// up for the scope the challenge names and gets a token carrying the acr,
// amr and auth_time that pass; an email code never earns the phone's acr.
func TestRealSDKACR(t *testing.T) {
	if os.Getenv(stepUpEnv) != "1" {
		t.Skipf("the real SDK's step-up run needs %s=1", stepUpEnv)
	}
	dir := requireSDK(t)
	for _, st := range sdkStores[:2] {
		t.Run(st.name, func(t *testing.T) {
			codes := newOTPReceiver(t)
			api := newUpstream(t)
			options := `possession_acr urn:stepup:phone
		scope payouts:write {
			acr urn:stepup:phone
			direct {
				step verify_sms 5m
				granted_for 10m
				grant_mode session-bound
			}
		}
		scope mail:confirm {
			acr urn:stepup:mail
			direct {
				step verify_email 5m
				granted_for 10m
				grant_mode session-bound
			}
		}`
			site := fmt.Sprintf(`route /api/payouts* {
		stepup {
			acr urn:stepup:phone
		}
		reverse_proxy %[1]s
	}
	route /api/recent* {
		stepup payouts:write {
			max_age 5s
		}
		reverse_proxy %[1]s
	}
	respond 404`, api.srv.URL)
			g := startSDKGateway(t, codes.srv.URL, st.store(t), options, site)
			g.runNode(t, dir, "acr.test.mjs", stepUpEnv+"=1", "STEPUP_CODES_URL="+codes.srv.URL+"/codes")
			// Passed: payouts once, recent twice.
			if n := api.hits.Load(); n != 3 {
				t.Errorf("the legacy API was reached %d times, want 3", n)
			}
		})
	}
}

// TestRealSDKPassword (issue 12): the real SDK reads the password policy,
// signs up (the address proven with a code), logs in with the password,
// and gets its own errors for a weak and a wrong password, on every store.
func TestRealSDKPassword(t *testing.T) {
	dir := requireSDK(t)
	for _, st := range sdkStores {
		t.Run(st.name, func(t *testing.T) {
			codes := newOTPReceiver(t)
			options := `login password {
			min_length 10
			numbers
			argon2id 1 8MiB 1
		}`
			g := startSDKGateway(t, codes.srv.URL, st.store(t), options, "respond 404")
			g.runNode(t, dir, "password.test.mjs", "STEPUP_CODES_URL="+codes.srv.URL+"/codes")
		})
	}
}
