package enforce

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/mcp"
)

func mcpCall(tool string) string {
	return `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
}

func mcpPost(token, body string) *http.Request {
	r := bearer("POST", "/mcp", token, body)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// TestMCPNeedsAddUp: a tool needs the route's scopes, the tools/call
// method's and its own; its acr must be in every list that has one; the
// shortest max_age applies.
func TestMCPNeedsAddUp(t *testing.T) {
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"a", "b"}, Any: true, ACR: []string{"x", "y"}, MaxAge: time.Hour, MCP: &MCPConfig{
		Methods: map[string]MCPNeed{"tools/call": {Scopes: []string{"call"}, ACR: []string{"y", "z"}}, "resources/read": {Scopes: []string{"b"}}},
		Tools:   map[string]MCPNeed{"pay": {Scopes: []string{"a", "pay"}, MaxAge: time.Minute}},
	}}, nil)
	for body, want := range map[string]string{
		mcpCall("pay"):   `[["a","b"],true,["call","a","pay"],["y"],60000000000]`,
		mcpCall("other"): `[["a","b"],true,["call"],["y"],3600000000000]`,
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x"}}`: `[["a","b"],true,["b"],["x","y"],3600000000000]`,
	} {
		m, err := mcp.ParseMessage([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		req, ok, err := ro.mcp.policy.Lookup(m)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if got, _ := json.Marshal([]any{req.scopes, req.any, req.extra, req.acr, req.maxAge}); string(got) != want {
			t.Errorf("%s needs %s, want %s", body, got, want)
		}
	}
	// Without any, a tool's scope the route already needs is not asked twice.
	plain := newTestRoute(t, RouteConfig{Scopes: []string{"a"}, MCP: &MCPConfig{Tools: map[string]MCPNeed{"pay": {Scopes: []string{"a", "pay"}}}}}, nil)
	m, _ := mcp.ParseMessage([]byte(mcpCall("pay")))
	if req, _, _ := plain.mcp.policy.Lookup(m); !reflect.DeepEqual(req.extra, []string{"pay"}) {
		t.Errorf("extra = %q", req.extra)
	}
}

func TestMeetACR(t *testing.T) {
	for _, c := range []struct {
		lists [][]string
		want  []string
		ok    bool
	}{
		{nil, nil, true},
		{[][]string{nil, {}}, nil, true},
		{[][]string{{"a", "b"}, nil}, []string{"a", "b"}, true},
		{[][]string{nil, {"a", "b"}, {"b", "c"}}, []string{"b"}, true},
		{[][]string{{"a"}, {"b"}}, nil, false},
		// Disjoint first, then a third list: still nothing meets them all.
		{[][]string{{"a"}, {"b"}, {"a", "b"}}, nil, false},
	} {
		got, ok := meetACR(c.lists...)
		if ok != c.ok || len(got) != len(c.want) || len(got) > 0 && !reflect.DeepEqual(got, c.want) {
			t.Errorf("meetACR(%q) = %q, %v; want %q, %v", c.lists, got, ok, c.want, c.ok)
		}
	}
}

func TestMCPConfigValidate(t *testing.T) {
	for name, c := range map[string]struct {
		cfg      MCPConfig
		routeACR []string
		want     string
	}{
		"empty need":           {MCPConfig{Tools: map[string]MCPNeed{"pay": {}}}, nil, "needs a scope, acr or max_age"},
		"bad scope":            {MCPConfig{Tools: map[string]MCPNeed{"pay": {Scopes: []string{"a b"}}}}, nil, "scope"},
		"bad acr":              {MCPConfig{Methods: map[string]MCPNeed{"x/y": {ACR: []string{`a"`}}}}, nil, "acr"},
		"max_age 1.5s":         {MCPConfig{Tools: map[string]MCPNeed{"pay": {MaxAge: 1500 * time.Millisecond}}}, nil, "max_age"},
		"max_age two years":    {MCPConfig{Tools: map[string]MCPNeed{"pay": {MaxAge: 2 * maxMaxAge}}}, nil, "max_age"},
		"tool named twice":     {MCPConfig{Tools: map[string]MCPNeed{"pay": {Scopes: []string{"a"}}, "PAY": {Scopes: []string{"a"}}}}, nil, "only in case"},
		"acr beside route's":   {MCPConfig{Methods: map[string]MCPNeed{"x/y": {ACR: []string{"b"}}}}, []string{"a"}, "acr"},
		"three lists":          {MCPConfig{Methods: map[string]MCPNeed{"tools/call": {ACR: []string{"b"}}}, Tools: map[string]MCPNeed{"pay": {ACR: []string{"a", "b"}}}}, []string{"a"}, "acr"},
		"a method named oddly": {MCPConfig{Methods: map[string]MCPNeed{"tools call": {Scopes: []string{"a"}}}}, nil, "printable ASCII"},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.cfg.Validate(c.routeACR)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
			if _, err := NewRoute(RouteConfig{ACR: c.routeACR, Headers: testHeaders, MCP: &c.cfg}, nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewRoute: %v", err)
			}
		})
	}
	if _, err := NewRoute(RouteConfig{Scopes: []string{"a"}, Bind: []string{"amount"}, Headers: testHeaders, MCP: &MCPConfig{}}, nil); err == nil || !strings.Contains(err.Error(), "bind") {
		t.Errorf("bind and mcp: %v", err)
	}
}

// TestMCPToolSpendsItsSingleUseGrant: a tool's scope held by a single-use
// grant of the gateway's lets one call through and spends the grant; the
// next call with the same token is a step-up challenge.
func TestMCPToolSpendsItsSingleUseGrant(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"mcp:tools"}, MCP: &MCPConfig{Tools: map[string]MCPNeed{"transfer_funds": {Scopes: []string{"payments:write"}}}}},
		Catalogue{"payments:write": {Grantable: true}})
	g.grants.add("grt_1", "usr_alice", "ses_1", "payments:write", nil)
	tok := g.token(func(c map[string]any) {
		c["scope"] = "mcp:tools payments:write"
		c["grt"] = map[string]string{"payments:write": "grt_1"}
	})
	// Another tool spends nothing.
	if d := ro.Decide(mcpPost(tok, mcpCall("get_balance")), g.deps); d.Refusal != nil || d.Grant != nil {
		t.Fatalf("get_balance: %+v", d)
	}
	d := ro.Decide(mcpPost(tok, mcpCall("transfer_funds")), g.deps)
	if d.Refusal != nil || d.Grant == nil || d.Grant.ID != "grt_1" {
		t.Fatalf("transfer_funds: %+v", d)
	}
	d = ro.Decide(mcpPost(tok, mcpCall("transfer_funds")), g.deps)
	if d.Refusal == nil || d.Refusal.Status != 401 || !strings.Contains(d.Refusal.WWWAuthenticate, `scope="payments:write"`) {
		t.Fatalf("transfer_funds again: %+v", d)
	}
	if len(g.grants.spent) != 1 {
		t.Errorf("spent %q", g.grants.spent)
	}
}

// TestMCPDecisionRefusesBeforeSpending: a body refused as no JSON-RPC
// message spends no grant and reaches nothing.
func TestMCPDecisionRefusesBeforeSpending(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"mcp:tools"}, MCP: &MCPConfig{Tools: map[string]MCPNeed{"transfer_funds": {Scopes: []string{"payments:write"}}}}},
		Catalogue{"payments:write": {Grantable: true}})
	g.grants.add("grt_1", "usr_alice", "ses_1", "payments:write", nil)
	tok := g.token(func(c map[string]any) {
		c["scope"] = "mcp:tools payments:write"
		c["grt"] = map[string]string{"payments:write": "grt_1"}
	})
	d := ro.Decide(mcpPost(tok, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_balance","name":"transfer_funds"}}`), g.deps)
	if d.Refusal == nil || d.Refusal.Status != 400 || readChallenge(t, d.Refusal).Code != "bad_request" || len(g.grants.spent) != 0 {
		t.Fatalf("%+v, spent %q", d, g.grants.spent)
	}
}
