package enforce

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkDecideMCP is the route's decision for a tools/call POST with a
// cached token: on a route without an mcp block (the body streams unread),
// and with one of 20 tools (the body read whole, parsed, its tool looked
// up), for a 150-byte call and a 16 KiB one. The difference is what the
// tool check costs a request.
func BenchmarkDecideMCP(b *testing.B) {
	tools := map[string]MCPNeed{"transfer_funds": {Scopes: []string{"payments:write"}}}
	for i := range 19 {
		tools[fmt.Sprintf("tool_%d", i)] = MCPNeed{Scopes: []string{"files:read"}}
	}
	call := func(tool, memo string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool +
			`","arguments":{"account":"DE02100100109307118603","memo":"` + memo + `"},"_meta":{"progressToken":7}}}`
	}
	long := strings.Repeat("a", 16200)
	for _, c := range []struct {
		name string
		mcp  *MCPConfig
		body string
	}{
		{"no mcp block, 150 B", nil, call("get_balance", "")},
		{"mcp block, undeclared tool, 150 B", &MCPConfig{Tools: tools}, call("get_balance", "")},
		{"mcp block, declared tool, 150 B", &MCPConfig{Tools: tools}, call("transfer_funds", "")},
		{"no mcp block, 16 KiB", nil, call("get_balance", long)},
		{"mcp block, undeclared tool, 16 KiB", &MCPConfig{Tools: tools}, call("get_balance", long)},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := newGateway(&testing.T{})
			ro, err := NewRoute(RouteConfig{Scopes: []string{"mcp:tools"}, Headers: testHeaders, Realm: "stepup", MCP: c.mcp}, nil)
			if err != nil {
				b.Fatal(err)
			}
			auth := "Bearer " + g.token(func(m map[string]any) { m["scope"] = "mcp:tools payments:write" })
			body := []byte(c.body)
			r, _ := http.NewRequest("POST", "http://127.0.0.1/mcp", nil)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.Header = http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}}
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
				if d := ro.Decide(r, g.deps); d.Refusal != nil {
					b.Fatalf("refused: %s", d.Refusal.Body)
				}
			}
		})
	}
}
