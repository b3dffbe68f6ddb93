package caddystepup

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// mcpTestHandler guards an MCP server: mcp:tools for everything,
// payments:write and a phone acr within 5 minutes for transfer_funds,
// files:read for resources/read, and repo:admin, which the app can step up
// (a scope block), for delete_repo.
func mcpTestHandler(t *testing.T) (*App, *Handler) {
	t.Helper()
	app := testApp(t)
	app.LoginACR = "urn:stepup:otp"
	app.Scopes = map[string]*appconfig.Scope{"repo:admin": {Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms"}}}, ACR: acrPhone}}
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"mcp:tools"}, MCP: &appconfig.MCPConfig{
		Methods: map[string]*appconfig.MCPNeed{"resources/read": {Scopes: []string{"files:read"}}},
		Tools: map[string]*appconfig.MCPNeed{
			"transfer_funds": {Scopes: []string{"payments:write"}, ACR: []string{acrPhone}, MaxAge: appconfig.Duration(5 * time.Minute)},
			"delete_repo":    {Scopes: []string{"repo:admin"}},
		},
	}}})
	return app, h
}

func mcpRequest(body, tok string) *http.Request {
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func toolCall(name string) string {
	return `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + name + `","arguments":{}}}`
}

func mcpToken(t *testing.T, app *App, scope, acr string, authAge time.Duration) string {
	t.Helper()
	return mintToken(t, app, func(c map[string]any) {
		c["scope"] = scope
		if acr != "" {
			c["acr"] = acr
		}
		c["auth_time"] = time.Now().Add(-authAge).Unix()
	})
}

func TestMCPRouteLetsThroughWhatEachToolNeeds(t *testing.T) {
	app, h := mcpTestHandler(t)
	base := mcpToken(t, app, "mcp:tools", "urn:stepup:otp", time.Hour)
	strong := mcpToken(t, app, "mcp:tools payments:write", acrPhone, time.Minute)
	for name, c := range map[string]struct {
		r    *http.Request
		body string
	}{
		"initialize":           {mcpRequest(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, base), ""},
		"tools/list":           {mcpRequest(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, base), ""},
		"a notification":       {mcpRequest(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, base), ""},
		"a response":           {mcpRequest(`{"jsonrpc":"2.0","id":"s1","result":{"action":"accept","content":{}}}`, base), ""},
		"an undeclared tool":   {mcpRequest(toolCall("get_balance"), base), ""},
		"transfer_funds":       {mcpRequest(toolCall("transfer_funds"), strong), ""},
		"the event stream GET": {request("GET", "/mcp", "Bearer "+base), ""},
		"the session DELETE":   {request("DELETE", "/mcp", "Bearer "+base), ""},
	} {
		t.Run(name, func(t *testing.T) {
			body := ""
			if c.r.Body != nil {
				body = "sent"
			}
			rec, seen := serve(t, h, c.r)
			if rec.Code != 200 || seen.calls != 1 {
				t.Fatalf("got %d (%s), upstream called %d times", rec.Code, rec.Body, seen.calls)
			}
			if body != "" && c.r.Method == "POST" && !strings.Contains(seen.body, `"jsonrpc":"2.0"`) {
				t.Errorf("upstream got body %q", seen.body)
			}
		})
	}
}

func TestMCPRouteRefusesInTheSpecsWords(t *testing.T) {
	app, h := mcpTestHandler(t)
	base := mcpToken(t, app, "mcp:tools files:read other:scope", "urn:stepup:otp", time.Hour)
	cases := map[string]struct {
		r      *http.Request
		status int
		header string
		code   string
	}{
		// The 401s name the route's scopes: MCP clients request them.
		"no token":      {mcpRequest(toolCall("get_balance"), ""), 401, `Bearer realm="stepup", scope="mcp:tools"`, "unauthorized"},
		"invalid token": {mcpRequest(toolCall("get_balance"), "e30.e30.e30"), 401, `Bearer error="invalid_token", scope="mcp:tools"`, "unauthorized"},
		// A tool's scope nobody steps up: 403 with the scopes to request,
		// the token's own that the route knows of kept (files:read), the
		// others (other:scope) left out.
		"transfer_funds without payments:write": {mcpRequest(toolCall("transfer_funds"), base), 403,
			`Bearer error="insufficient_scope", scope="mcp:tools payments:write files:read"`, "forbidden"},
		"resources/read without files:read": {mcpRequest(`{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///a"}}`, mcpToken(t, app, "mcp:tools", "", 0)), 403,
			`Bearer error="insufficient_scope", scope="mcp:tools files:read"`, "forbidden"},
		"no base scope": {mcpRequest(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, mcpToken(t, app, "files:read", "", 0)), 403,
			`Bearer error="insufficient_scope", scope="mcp:tools files:read"`, "forbidden"},
		"the event stream without the base scope": {request("GET", "/mcp", "Bearer "+mcpToken(t, app, "files:read", "", 0)), 403,
			`Bearer error="insufficient_scope", scope="mcp:tools files:read"`, "forbidden"},
		// The scope is there, the acr and age are not: RFC 9470 (and, since
		// a step-up of repo:admin earns the phone acr, the SDK's step-up).
		"transfer_funds with an old otp login": {mcpRequest(toolCall("transfer_funds"), mcpToken(t, app, "mcp:tools payments:write", "urn:stepup:otp", time.Hour)), 401,
			`Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:stepup:phone", max_age=300`, "step_up_required"},
		"transfer_funds with an old phone login": {mcpRequest(toolCall("transfer_funds"), mcpToken(t, app, "mcp:tools payments:write", acrPhone, time.Hour)), 401,
			`Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300`, "insufficient_user_authentication"},
		// A gateway-managed scope: the SDK's step-up challenge.
		"delete_repo": {mcpRequest(toolCall("delete_repo"), base), 401,
			`Bearer error="insufficient_user_authentication", scope="repo:admin"`, "step_up_required"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rec, seen := serve(t, h, c.r)
			assertRefused(t, rec, seen, c.status, c.header, c.code)
		})
	}
}

// TestMCPRouteRefusesBodiesTwoParsersReadTwoWays: every body that could
// name one tool to the gateway and another to the server is refused with
// 400 before anything else is judged, and never reaches the upstream.
func TestMCPRouteRefusesBodiesTwoParsersReadTwoWays(t *testing.T) {
	app, h := mcpTestHandler(t)
	base := mcpToken(t, app, "mcp:tools", "", 0)
	const message = "The body must be one JSON-RPC message"
	for name, body := range map[string]string{
		"duplicate name":           `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_balance","name":"transfer_funds"}}`,
		"duplicate name, reversed": `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"transfer_funds","name":"get_balance"}}`,
		"escaped duplicate name":   `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_balance","n\u0061me":"transfer_funds"}}`,
		"name in another case":     `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_balance","NAME":"transfer_funds"}}`,
		"tool in another case":     toolCall("Transfer_Funds"),
		"tool escaped, other case": toolCall(`TRANSFER\u005fFUNDS`),
		"method in another case":   `{"jsonrpc":"2.0","id":2,"method":"Tools/Call","params":{"name":"transfer_funds"}}`,
		"duplicate params":         `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_balance"},"params":{"name":"transfer_funds"}}`,
		"duplicate method":         `{"jsonrpc":"2.0","id":2,"method":"tools/list","method":"tools/call","params":{"name":"transfer_funds"}}`,
		"tool with a trailing NUL": toolCall(`transfer_funds\u0000`),
		"tool in full-width":       toolCall(`ｔransfer_funds`),
		"two messages":             toolCall("get_balance") + toolCall("transfer_funds"),
		"a message and a response": `{"jsonrpc":"2.0","id":2,"result":{},"method":"tools/call","params":{"name":"transfer_funds"}}`,
		"lone surrogate":           toolCall(`transfer_funds\ud800`),
		"no jsonrpc":               `{"id":2,"method":"tools/call","params":{"name":"transfer_funds"}}`,
		"params in another case":   `{"jsonrpc":"2.0","id":2,"method":"tools/call","Params":{"name":"transfer_funds"}}`,
		"a byte order mark":        "\ufeff" + toolCall("transfer_funds"),
		"not JSON":                 `jsonrpc=2.0&method=tools/call`,
	} {
		t.Run(name, func(t *testing.T) {
			rec, seen := serve(t, h, mcpRequest(body, base))
			got := assertRefused(t, rec, seen, 400, "", "bad_request")
			if !strings.HasPrefix(got.Message, message) {
				t.Errorf("message %q", got.Message)
			}
		})
	}
	t.Run("a batch", func(t *testing.T) {
		rec, seen := serve(t, h, mcpRequest(`[`+toolCall("get_balance")+`,`+toolCall("transfer_funds")+`]`, base))
		got := assertRefused(t, rec, seen, 400, "", "bad_request")
		if !strings.HasPrefix(got.Message, message) || !strings.Contains(got.Message, "batch") {
			t.Errorf("message %q", got.Message)
		}
	})
}

func TestMCPRouteReadsOnlyJSONBodies(t *testing.T) {
	app, h := mcpTestHandler(t)
	base := mcpToken(t, app, "mcp:tools", "", 0)
	for name, mutate := range map[string]func(r *http.Request){
		"text/plain":        func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
		"utf-16":            func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-16") },
		"two content types": func(r *http.Request) { r.Header.Add("Content-Type", "application/json") },
		"gzip":              func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") },
		"octet-stream":      func(r *http.Request) { r.Header.Set("Content-Type", "application/octet-stream") },
	} {
		t.Run(name, func(t *testing.T) {
			r := mcpRequest(toolCall("transfer_funds"), base)
			mutate(r)
			rec, seen := serve(t, h, r)
			if rec.Code != 400 || seen.calls != 0 {
				t.Fatalf("got %d %s, upstream called %d times", rec.Code, rec.Body, seen.calls)
			}
		})
	}
	t.Run("no content type", func(t *testing.T) {
		// Read as a form first (the one-credential rule), then refused as
		// no JSON-RPC message.
		r := mcpRequest(toolCall("transfer_funds"), base)
		r.Header.Del("Content-Type")
		rec, seen := serve(t, h, r)
		assertRefused(t, rec, seen, 400, "", "bad_request")
	})
	t.Run("over body_limit", func(t *testing.T) {
		small := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"mcp:tools"}, BodyLimit: 64, MCP: &appconfig.MCPConfig{}}})
		body := toolCall("get_balance")
		r := mcpRequest(body[:len(body)-2]+`,"x":"`+strings.Repeat("a", 64)+`"}}`, base)
		rec, seen := serve(t, small, r)
		assertRefused(t, rec, seen, 413, "", "body_too_large")
		head, tail := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"`, `"}}`
		exact := head + strings.Repeat("a", 64-len(head)-len(tail)) + tail
		if len(exact) != 64 {
			t.Fatalf("the body at the limit is %d bytes", len(exact))
		}
		rec, seen = serve(t, small, mcpRequest(exact, base))
		if rec.Code != 200 || seen.body != exact {
			t.Fatalf("a body of body_limit bytes: %d %s, upstream got %q", rec.Code, rec.Body, seen.body)
		}
	})
}

func TestMCPRoutePassesTheBodyAndHeadersUnchanged(t *testing.T) {
	app, h := mcpTestHandler(t)
	body := toolCall("get_balance")
	r := mcpRequest(body, mcpToken(t, app, "mcp:tools", "", 0))
	r.Header.Set("Mcp-Session-Id", "1868a90c-5e32-4a08-a2c7-3e1bd3b1c2a4")
	r.Header.Set("MCP-Protocol-Version", "2025-11-25")
	rec, seen := serve(t, h, r)
	if rec.Code != 200 || seen.body != body {
		t.Fatalf("got %d, upstream body %q", rec.Code, seen.body)
	}
	if seen.headers.Get("Mcp-Session-Id") != "1868a90c-5e32-4a08-a2c7-3e1bd3b1c2a4" || seen.headers.Get("Mcp-Protocol-Version") != "2025-11-25" {
		t.Errorf("headers = %v", seen.headers)
	}
	if seen.headers.Get("X-Stepup-Sub") != "usr_alice" {
		t.Errorf("identity headers = %v", seen.headers)
	}
}

func TestMCPToolNeedsAddUp(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"a", "b"}, Any: true, ACR: []string{"x", "y"}, MaxAge: appconfig.Duration(time.Hour), MCP: &appconfig.MCPConfig{
		Methods: map[string]*appconfig.MCPNeed{"tools/call": {Scopes: []string{"call"}, ACR: []string{"y", "z"}}},
		Tools:   map[string]*appconfig.MCPNeed{"pay": {Scopes: []string{"a", "pay"}, MaxAge: appconfig.Duration(time.Minute)}},
	}}})
	// With any, a route scope the tool names is needed for itself; b
	// stands for the route.
	tok := mcpToken(t, app, "b call pay", "y", 0)
	rec, seen := serve(t, h, mcpRequest(toolCall("pay"), tok))
	assertRefused(t, rec, seen, 403, `Bearer error="insufficient_scope", scope="b call a pay"`, "forbidden")
	rec, _ = serve(t, h, mcpRequest(toolCall("pay"), mcpToken(t, app, "a call pay", "y", 0)))
	if rec.Code != 200 {
		t.Errorf("a token with every scope: %d %s", rec.Code, rec.Body)
	}
}

func TestMCPConfigValidation(t *testing.T) {
	app := testApp(t)
	for name, c := range map[string]struct {
		h    *Handler
		want string
	}{
		"empty need":           {&Handler{RouteConfig: appconfig.RouteConfig{MCP: &appconfig.MCPConfig{Tools: map[string]*appconfig.MCPNeed{"pay": {}}}}}, "tool pay: needs a scope"},
		"bad scope":            {&Handler{RouteConfig: appconfig.RouteConfig{MCP: &appconfig.MCPConfig{Tools: map[string]*appconfig.MCPNeed{"pay": {Scopes: []string{"pay ments"}}}}}}, "scope"},
		"bad acr":              {&Handler{RouteConfig: appconfig.RouteConfig{MCP: &appconfig.MCPConfig{Methods: map[string]*appconfig.MCPNeed{"x/y": {ACR: []string{`a"b`}}}}}}, "acr"},
		"sub-second max_age":   {&Handler{RouteConfig: appconfig.RouteConfig{MCP: &appconfig.MCPConfig{Tools: map[string]*appconfig.MCPNeed{"pay": {MaxAge: appconfig.Duration(time.Millisecond)}}}}}, "max_age"},
		"tool with a space":    {&Handler{RouteConfig: appconfig.RouteConfig{MCP: &appconfig.MCPConfig{Tools: map[string]*appconfig.MCPNeed{"pay now": {Scopes: []string{"a"}}}}}}, "printable ASCII"},
		"tools in two cases":   {&Handler{RouteConfig: appconfig.RouteConfig{MCP: &appconfig.MCPConfig{Tools: map[string]*appconfig.MCPNeed{"pay": {Scopes: []string{"a"}}, "Pay": {Scopes: []string{"b"}}}}}}, "only in case"},
		"acr nobody meets":     {&Handler{RouteConfig: appconfig.RouteConfig{ACR: []string{"x"}, MCP: &appconfig.MCPConfig{Tools: map[string]*appconfig.MCPNeed{"pay": {ACR: []string{"y"}}}}}}, "acr"},
		"acr and tools/call's": {&Handler{RouteConfig: appconfig.RouteConfig{MCP: &appconfig.MCPConfig{Methods: map[string]*appconfig.MCPNeed{"tools/call": {ACR: []string{"x"}}}, Tools: map[string]*appconfig.MCPNeed{"pay": {ACR: []string{"y"}}}}}}, "acr"},
		"with bind":            {&Handler{RouteConfig: appconfig.RouteConfig{Scopes: []string{"a"}, Bind: []string{"amount"}, MCP: &appconfig.MCPConfig{}}}, "bind"},
	} {
		t.Run(name, func(t *testing.T) {
			c.h.logger = zap.NewNop()
			if err := c.h.setup(app); err != nil {
				if !strings.Contains(err.Error(), c.want) {
					t.Fatalf("setup: %v, want %q", err, c.want)
				}
				return
			}
			if err := c.h.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want %q", err, c.want)
			}
		})
	}
}

func TestMCPCaddyfile(t *testing.T) {
	input := "stepup mcp:tools {\n mcp {\n  tool transfer_funds payments:write {\n   acr urn:stepup:phone\n   max_age 5m\n  }\n  tool delete_repo repo:admin\n  method resources/read files:read\n }\n}"
	h, err := parseStepupDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(input)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h)
	want := `{"scopes":["mcp:tools"],"mcp":{"methods":{"resources/read":{"scopes":["files:read"]}},"tools":{"delete_repo":{"scopes":["repo:admin"]},"transfer_funds":{"scopes":["payments:write"],"acr":["urn:stepup:phone"],"max_age":300000000000}}}}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if h, err := parseStepupDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("stepup a {\n mcp\n}")}); err != nil || h.(*Handler).MCP == nil {
		t.Errorf("a bare mcp: %v", err)
	}
	for input, wantErr := range map[string]string{
		"stepup {\n mcp {\n  prompt x a\n }\n}":                         "unrecognized mcp option 'prompt'",
		"stepup {\n mcp {\n  tool\n }\n}":                               "wrong argument count",
		"stepup {\n mcp {\n  tool x a\n  tool x b\n }\n}":               "declared twice",
		"stepup {\n mcp {\n  tool x {\n   scopes a\n  }\n }\n}":         "unrecognized mcp tool option 'scopes'",
		"stepup {\n mcp {\n  tool x {\n   acr\n  }\n }\n}":              "wrong argument count",
		"stepup {\n mcp {\n  method x/y {\n   max_age soon\n  }\n }\n}": "max_age",
		"stepup {\n mcp x\n}":                                           "wrong argument count",
		"stepup {\n mcp\n mcp\n}":                                       "mcp is given twice",
	} {
		if _, err := parseStepupDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(input)}); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: %v, want %q", input, err, wantErr)
		}
	}
}

// TestMCPRouteTellsItsResourceEveryScope: the route's metadata lists the
// scopes and acr values its methods and tools ask for, after its own.
func TestMCPRouteTellsItsResourceEveryScope(t *testing.T) {
	_, h := mcpTestHandler(t)
	got, _ := json.Marshal(h.resourceRoute())
	if want := `{"Scopes":["mcp:tools","files:read","repo:admin","payments:write"],"ACR":["urn:stepup:phone"],"DPoPRequired":false,"DetailTypes":null}`; string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}
