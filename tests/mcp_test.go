package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// The MCP authorization flow end to end: a real MCP server and client
// (@modelcontextprotocol/sdk) and a real authorization server with dynamic
// registration (oidc-provider), in tests/mcp, around the built caddy.

// startNodeReady runs `node script args...` in dir until the test ends and
// returns the first line it prints, once it has printed one.
func startNodeReady(t *testing.T, dir, script string, args ...string) []byte {
	t.Helper()
	stdout, stderr := new(lockedBuffer), new(lockedBuffer)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stopByPID(cmd, exited) })
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stdout.String(), "\n") {
		select {
		case <-exited:
			t.Fatalf("%s exited before it was ready:\n%s", script, stderr)
		case <-deadline:
			t.Fatalf("%s not ready after 30 s:\n%s", script, stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	line, _, _ := strings.Cut(stdout.String(), "\n")
	return []byte(line)
}

// mcpSetup is the MCP server behind the built caddy, and the provider.
type mcpSetup struct {
	dir      string
	base     string // the gateway's origin
	url      string // the MCP endpoint behind the gateway
	upstream string // the MCP endpoint itself
	issuer   string
	client   *http.Client
}

func startMCPSetup(t *testing.T) *mcpSetup {
	t.Helper()
	dir := requireNodePackages(t, "mcp", "@modelcontextprotocol/sdk", "MCP tests")
	var provider struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(startNodeReady(t, dir, "provider.mjs", fmt.Sprint(testcaddy.FreePort(t))), &provider); err != nil {
		t.Fatal(err)
	}
	var server struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(startNodeReady(t, dir, "server.mjs", fmt.Sprint(testcaddy.FreePort(t))), &server); err != nil {
		t.Fatal(err)
	}
	s := &mcpSetup{dir: dir, upstream: server.URL, issuer: provider.Issuer, client: newClient(t)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
	s.url = s.base + "/mcp"
	testcaddy.Start(t, testcaddy.Config{
		Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		trust %[2]s {
			jwks_url %[3]s
			audience %[1]s/mcp
			algorithms ES256
		}
	}
}

%[1]s {
	stepup_metadata
	route /mcp* {
		stepup mcp:tools {
			resource %[1]s/mcp
			mcp {
				tool transfer_funds payments:write
				tool rotate_keys {
					max_age 1s
				}
				tool close_account {
					acr urn:stepup:mfa
				}
			}
		}
		reverse_proxy %[4]s
	}
	respond 404
}
`, s.base, provider.Issuer, provider.JWKSURI, strings.TrimSuffix(strings.TrimPrefix(server.URL, "http://"), "/mcp")),
		WaitFor: []string{s.base + "/.well-known/oauth-protected-resource/mcp"},
	})
	return s
}

// mcpCall is one tool run the server recorded.
type mcpCall struct {
	Tool    string `json:"tool"`
	Session string `json:"session"`
	Sub     string `json:"sub"`
}

// mcpRequest is one HTTP request the server got at /mcp.
type mcpRequest struct {
	Method   string `json:"method"`
	Session  string `json:"session"`
	Protocol string `json:"protocol"`
}

func (s *mcpSetup) record(t *testing.T, what string, into any) {
	t.Helper()
	got := fetch(t, s.client, "GET", strings.TrimSuffix(s.upstream, "/mcp")+"/_"+what, nil)
	if got.status != 200 || json.Unmarshal(got.body, into) != nil {
		t.Fatalf("/_%s: %d %s", what, got.status, got.body)
	}
}

func (s *mcpSetup) toolRuns(t *testing.T, tool string) int {
	t.Helper()
	var calls []mcpCall
	s.record(t, "calls", &calls)
	n := 0
	for _, c := range calls {
		if c.Tool == tool {
			n++
		}
	}
	return n
}

// mcpClientRun is client.mjs's output.
type mcpClientRun struct {
	Error string `json:"error"`
	Steps struct {
		Connected struct {
			AuthorizedFirst bool   `json:"authorized_first"`
			Session         string `json:"session"`
		} `json:"connected"`
		Tools      []string `json:"tools"`
		GetBalance struct {
			Text string            `json:"text"`
			Seen map[string]string `json:"seen"`
		} `json:"get_balance"`
		TransferFirst struct {
			Passed bool   `json:"passed"`
			Error  string `json:"error"`
		} `json:"transfer_first"`
		TransferAfter struct {
			Text    string `json:"text"`
			Session string `json:"session"`
		} `json:"transfer_after_reauthorization"`
		Streamed struct {
			Text     string `json:"text"`
			Progress int    `json:"progress_notifications"`
		} `json:"streamed"`
		OtherResource struct {
			Status          int    `json:"status"`
			WWWAuthenticate string `json:"www_authenticate"`
		} `json:"other_resource"`
		Authentication map[string]map[string]struct {
			Passed  bool   `json:"passed"`
			Error   string `json:"error"`
			Message string `json:"message"`
		} `json:"authentication"`
	} `json:"steps"`
	Exchanges []struct {
		Method          string `json:"method"`
		URL             string `json:"url"`
		Message         string `json:"message"`
		Authorization   bool   `json:"authorization"`
		RequestSession  string `json:"request_session"`
		RequestProtocol string `json:"request_protocol_version"`
		Status          int    `json:"status"`
		ContentType     string `json:"content_type"`
		WWWAuthenticate string `json:"www_authenticate"`
	} `json:"exchanges"`
	Authorizations []struct {
		Provider            string  `json:"provider"`
		Scope               string  `json:"scope"`
		Resource            string  `json:"resource"`
		CodeChallengeMethod string  `json:"code_challenge_method"`
		MaxAge              *string `json:"max_age"`
		ACRValues           *string `json:"acr_values"`
		Prompt              *string `json:"prompt"`
	} `json:"authorizations"`
	Tokens struct {
		First, Upscoped, Other string
	} `json:"tokens"`
}

func (s *mcpSetup) runClient(t *testing.T, otherResource string) mcpClientRun {
	t.Helper()
	input, _ := json.Marshal(map[string]string{"url": s.url, "other_resource": otherResource})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "client.mjs", string(input))
	cmd.Dir = s.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var run mcpClientRun
	if jerr := json.Unmarshal(stdout.Bytes(), &run); err != nil || jerr != nil || run.Error != "" {
		t.Fatalf("client.mjs: %v %v\n%s\nstderr:\n%s", err, jerr, stdout.String(), stderr.String())
	}
	return run
}

// tokenClaims reads a JWT's claims without checking it (the gateway did).
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		t.Fatalf("claims of %q: %v", token, err)
	}
	return claims
}

// TestMCPClientDiscoversStepsUpAndCallsOnce: the SDK's client, given only
// the URL, finds the authorization server through the gateway's 401 and
// RFC 9728 metadata, registers, gets a token with PKCE and `resource`,
// lists and calls tools over the SDK's server behind the gateway (SSE
// streamed as it is written, the GET stream and the DELETE authorized,
// the session and protocol headers untouched), is refused the payments
// tool with 403 insufficient_scope, re-authorizes with the challenge's
// scope and calls it once; a token for another resource is refused.
func TestMCPClientDiscoversStepsUpAndCallsOnce(t *testing.T) {
	s := startMCPSetup(t)
	run := s.runClient(t, s.base+"/other")
	t.Run("the SDK's client", func(t *testing.T) { checkMCPClientRun(t, s, run) })
	t.Run("bodies naming one tool to the gateway and another to the server", func(t *testing.T) {
		checkMCPBodies(t, s, run.Tokens.First)
	})
	t.Run("tools that need a fresher or stronger login", func(t *testing.T) { checkMCPUserAuthentication(t, s, run) })
}

// checkMCPUserAuthentication: a tool with max_age (rotate_keys, 1 s) or
// acr (close_account) gets RFC 9470's 401 insufficient_user_authentication
// with max_age or acr_values. The SDK (1.32.2) treats it as any 401: it
// re-authorizes with the scopes of the RFC 9728 document (the challenge
// names none) and without max_age, acr_values or prompt, so the provider
// answers from the user's session, with the same auth_time and no acr; the
// host finishes that authorization and calls again, and is refused again.
// The server never runs either tool.
func checkMCPUserAuthentication(t *testing.T, s *mcpSetup, run mcpClientRun) {
	metadata := s.base + "/.well-known/oauth-protected-resource/mcp"
	for tool, challenge := range map[string]string{
		"rotate_keys":   `Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=1, resource_metadata="` + metadata + `"`,
		"close_account": `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:mfa", resource_metadata="` + metadata + `"`,
	} {
		refused := 0
		for _, e := range run.Exchanges {
			if e.Message != "tools/call "+tool {
				continue
			}
			if e.Status != 401 || e.WWWAuthenticate != challenge {
				t.Errorf("%s: %d %q, want 401 %q", tool, e.Status, e.WWWAuthenticate, challenge)
			}
			refused++
		}
		outcome := run.Steps.Authentication[tool]
		if refused != 2 || outcome["first"].Error != "UnauthorizedError" || outcome["after_reauthorization"].Error != "UnauthorizedError" {
			t.Errorf("%s: refused %d times, want 2 (before and after the re-authorization); outcome %+v", tool, refused, outcome)
		}
		if n := s.toolRuns(t, tool); n != 0 {
			t.Errorf("the server ran %s %d times", tool, n)
		}
	}
	var again int
	for _, a := range run.Authorizations {
		if a.Provider != "fresh" {
			continue
		}
		if a.MaxAge != nil || a.ACRValues != nil || a.Prompt != nil {
			t.Errorf("an authorization request carried max_age %v, acr_values %v, prompt %v", a.MaxAge, a.ACRValues, a.Prompt)
		}
		if a.Scope == "mcp:tools payments:write" && a.Resource == s.url {
			again++
		}
	}
	if again != 4 {
		t.Errorf("%d re-authorizations with the document's scopes, want 4 (two per tool): %+v", again, run.Authorizations)
	}
}

func checkMCPClientRun(t *testing.T, s *mcpSetup, run mcpClientRun) {
	otherResource := s.base + "/other"
	metadata := s.base + "/.well-known/oauth-protected-resource/mcp"

	// Discovery, registration and the first token, from the 401 alone.
	ex := run.Exchanges
	if len(ex) < 8 {
		t.Fatalf("%d exchanges: %+v", len(ex), ex)
	}
	first := ex[0]
	if first.Method != "POST" || first.URL != s.url || first.Message != "initialize" || first.Authorization || first.Status != 401 ||
		first.WWWAuthenticate != `Bearer realm="stepup", scope="mcp:tools", resource_metadata="`+metadata+`"` {
		t.Errorf("first exchange %+v", first)
	}
	wantPath := []string{"GET " + metadata, "GET " + s.issuer + "/.well-known/oauth-authorization-server", "POST " + s.issuer + "/reg"}
	for i, want := range wantPath {
		if got := ex[1+i].Method + " " + ex[1+i].URL; got != want || ex[1+i].Status/100 != 2 {
			t.Errorf("exchange %d: %s %d, want %s", 1+i, got, ex[1+i].Status, want)
		}
	}
	if len(run.Authorizations) < 3 {
		t.Fatalf("authorizations %+v", run.Authorizations)
	}
	if a := run.Authorizations[0]; a.Scope != "mcp:tools" || a.Resource != s.url || a.CodeChallengeMethod != "S256" {
		t.Errorf("the first authorization request %+v", a)
	}
	if !run.Steps.Connected.AuthorizedFirst || run.Steps.Connected.Session == "" {
		t.Errorf("connected %+v", run.Steps.Connected)
	}
	claims := tokenClaims(t, run.Tokens.First)
	if claims["aud"] != s.url || claims["scope"] != "mcp:tools" || claims["sub"] != "alice" || claims["iss"] != s.issuer {
		t.Errorf("the first token's claims %v", claims)
	}

	// Tools listed and the read tool called, with the headers untouched.
	if !slices.Contains(run.Steps.Tools, "get_balance") || !slices.Contains(run.Steps.Tools, "transfer_funds") {
		t.Errorf("tools %q", run.Steps.Tools)
	}
	seen := run.Steps.GetBalance.Seen
	if seen["x-stepup-sub"] != "alice" || seen["mcp-protocol-version"] != "2025-11-25" || seen["mcp-session-id"] != run.Steps.Connected.Session {
		t.Errorf("get_balance saw %v", seen)
	}

	// The payments tool: 403 in the spec's words, the SDK re-authorizes
	// with the challenge's scope, and the tool runs once, in the same session.
	var refused, passed int
	for _, e := range ex {
		if e.Message != "tools/call transfer_funds" {
			continue
		}
		switch e.Status {
		case 403:
			refused++
			if e.WWWAuthenticate != `Bearer error="insufficient_scope", scope="mcp:tools payments:write", resource_metadata="`+metadata+`"` {
				t.Errorf("the 403's challenge %q", e.WWWAuthenticate)
			}
		case 200:
			passed++
		}
	}
	if refused != 1 || passed != 1 || run.Steps.TransferFirst.Passed || run.Steps.TransferFirst.Error != "UnauthorizedError" {
		t.Errorf("transfer_funds refused %d, passed %d times; first attempt %+v", refused, passed, run.Steps.TransferFirst)
	}
	if a := run.Authorizations[1]; a.Scope != "mcp:tools payments:write" || a.Resource != s.url {
		t.Errorf("the re-authorization %+v", a)
	}
	if up := tokenClaims(t, run.Tokens.Upscoped); up["scope"] != "mcp:tools payments:write" || up["aud"] != s.url {
		t.Errorf("the second token's claims %v", up)
	}
	if run.Steps.TransferAfter.Text != "sent 500 to DE02100100109307118603" || run.Steps.TransferAfter.Session != run.Steps.Connected.Session {
		t.Errorf("after re-authorization %+v", run.Steps.TransferAfter)
	}
	if n := s.toolRuns(t, "transfer_funds"); n != 1 {
		t.Errorf("the server ran transfer_funds %d times, want 1", n)
	}

	// Streamable HTTP: SSE answers streamed (wait_for_signal returns only
	// after its progress notification reached the client, which then
	// called signal), the GET stream opened, the DELETE ended the session,
	// and the protocol header the client sent reached the server.
	if run.Steps.Streamed.Text != "signalled" || run.Steps.Streamed.Progress < 1 {
		t.Errorf("streamed %+v", run.Steps.Streamed)
	}
	var sawGET, sawDELETE bool
	for _, e := range ex {
		if e.URL != s.url {
			continue
		}
		if e.Method == "GET" {
			sawGET = e.Status == 200 && e.ContentType == "text/event-stream" && e.Authorization
		}
		if e.Method == "DELETE" {
			sawDELETE = e.Status == 200 && e.Authorization && e.RequestSession == run.Steps.Connected.Session
		}
		if e.Message == "tools/call wait_for_signal" && e.ContentType != "text/event-stream" {
			t.Errorf("wait_for_signal answered as %q", e.ContentType)
		}
	}
	if !sawGET || !sawDELETE {
		t.Errorf("the event stream GET passed: %v; the session DELETE passed: %v", sawGET, sawDELETE)
	}
	var requests []mcpRequest
	s.record(t, "requests", &requests)
	for _, r := range requests {
		if r.Session == run.Steps.Connected.Session && r.Protocol != "2025-11-25" {
			t.Errorf("the server got %s without the protocol version: %+v", r.Method, r)
		}
	}
	if !slices.ContainsFunc(requests, func(r mcpRequest) bool { return r.Method == "DELETE" && r.Session == run.Steps.Connected.Session }) {
		t.Errorf("the server got no DELETE: %+v", requests)
	}

	// A token for another resource: the provider issued it (aud is the
	// other resource), the gateway refuses it.
	if other := tokenClaims(t, run.Tokens.Other); other["aud"] != otherResource {
		t.Errorf("the other token's claims %v", other)
	}
	if o := run.Steps.OtherResource; o.Status != 401 || o.WWWAuthenticate != `Bearer error="invalid_token", scope="mcp:tools", resource_metadata="`+metadata+`"` {
		t.Errorf("a token for another resource: %+v", o)
	}
	for _, h := range []http.Header{{}, {"Authorization": {"Bearer " + run.Tokens.Other}}} {
		if got := fetch(t, s.client, "GET", s.url, h); got.status != 401 {
			t.Errorf("GET of the event stream with %v: %d", h, got.status)
		}
	}
}

// mcpPost sends one JSON-RPC body to url in session (none: "") with token
// (none: ""), as the SDK's client sends it, and reads the whole answer.
func (s *mcpSetup) mcpPost(t *testing.T, url, session, token, contentType, body string) answer {
	t.Helper()
	h := http.Header{"Accept": {"application/json, text/event-stream"}, "Mcp-Protocol-Version": {"2025-11-25"}}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if session != "" {
		h.Set("Mcp-Session-Id", session)
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return fetchBody(t, s.client, "POST", url, h, []byte(body))
}

// mcpOpen initializes a session at url and returns its ID.
func (s *mcpSetup) mcpOpen(t *testing.T, url, token string) string {
	t.Helper()
	got := s.mcpPost(t, url, "", token, "application/json",
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"go","version":"1"}}}`)
	session := got.header.Get("Mcp-Session-Id")
	if got.status != 200 || session == "" {
		t.Fatalf("initialize at %s: %d %s", url, got.status, got.body)
	}
	if got := s.mcpPost(t, url, session, token, "application/json", `{"jsonrpc":"2.0","method":"notifications/initialized"}`); got.status != 202 {
		t.Fatalf("notifications/initialized at %s: %d %s", url, got.status, got.body)
	}
	return session
}

// checkMCPBodies sends, with a token that may call get_balance but not
// transfer_funds, bodies that name get_balance to one reading and
// transfer_funds to another (duplicates, escapes, case variants, batches,
// other labels): the gateway refuses each, and the server never runs
// transfer_funds. The duplicates and batches are real attacks: sent
// straight to the server, it runs transfer_funds (JSON.parse keeps the
// last duplicate; the SDK's transport runs every message of a batch).
func checkMCPBodies(t *testing.T, s *mcpSetup, token string) {
	const call = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":{}}}`
	cases := []struct {
		name, contentType, body string
		status                  int
		attack                  bool // the server, reached directly, runs transfer_funds
	}{
		{"duplicate name", "application/json", `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"get_balance","name":"transfer_funds"}}`, 400, true},
		{"escaped duplicate name", "application/json", `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"get_balance","n\u0061me":"transfer_funds"}}`, 400, true},
		{"escaped tool name beside the plain one", "application/json", `{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"get_balance","name":"transfer\u005ffunds"}}`, 400, true},
		{"duplicate params", "application/json", `{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"get_balance"},"params":{"name":"transfer_funds"}}`, 400, true},
		{"duplicate method", "application/json", `{"jsonrpc":"2.0","id":15,"method":"tools/list","params":{"name":"transfer_funds"},"method":"tools/call"}`, 400, true},
		{"batch", "application/json", "[" + fmt.Sprintf(call, 16, "get_balance") + "," + fmt.Sprintf(call, 17, "transfer_funds") + "]", 400, true},
		{"name in capitals beside it", "application/json", `{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"get_balance","NAME":"transfer_funds"}}`, 400, false},
		{"tool in another case", "application/json", fmt.Sprintf(call, 19, "Transfer_Funds"), 400, false},
		{"method in another case", "application/json", `{"jsonrpc":"2.0","id":20,"method":"Tools/Call","params":{"name":"transfer_funds"}}`, 400, false},
		{"tool with a trailing space", "application/json", fmt.Sprintf(call, 21, "transfer_funds "), 400, false},
		{"labelled text/plain", "text/plain", fmt.Sprintf(call, 22, "transfer_funds"), 400, false},
		// This server reads any JSON label as UTF-8 (and runs the call);
		// express.json() would decode UTF-16: the gateway reads no such body.
		{"labelled in UTF-16", "application/json; charset=utf-16", fmt.Sprintf(call, 23, "transfer_funds"), 400, true},
		// Named plainly, the tool is judged as itself: 403.
		{"escaped tool name", "application/json", fmt.Sprintf(call, 24, `transfer\u005ffunds`), 403, true},
		{"as a notification", "application/json", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"transfer_funds"}}`, 403, false},
	}
	before := s.toolRuns(t, "transfer_funds")
	session := s.mcpOpen(t, s.url, token)
	for _, c := range cases {
		got := s.mcpPost(t, s.url, session, token, c.contentType, c.body)
		if got.status != c.status || got.code == "" || got.cache != "no-store" {
			t.Errorf("%s: %d %s, want %d with the SDK's error body", c.name, got.status, got.body, c.status)
		}
	}
	if n := s.toolRuns(t, "transfer_funds"); n != before {
		t.Fatalf("the server ran transfer_funds %d times through the gateway", n-before)
	}
	// The same bodies straight to the server.
	direct := s.mcpOpen(t, s.upstream, "")
	for _, c := range cases {
		runs := s.toolRuns(t, "transfer_funds")
		s.mcpPost(t, s.upstream, direct, "", c.contentType, c.body)
		if ran := s.toolRuns(t, "transfer_funds") > runs; ran != c.attack {
			t.Errorf("%s sent straight to the server: transfer_funds ran: %v, want %v", c.name, ran, c.attack)
		}
	}
	// What the gateway lets through with this token still works.
	if got := s.mcpPost(t, s.url, session, token, "application/json", fmt.Sprintf(call, 30, "get_balance")); got.status != 200 || !bytes.Contains(got.body, []byte("1250")) {
		t.Errorf("get_balance after the refusals: %d %s", got.status, got.body)
	}
}
