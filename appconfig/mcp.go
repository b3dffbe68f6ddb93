package appconfig

import (
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// MCPConfig makes a route an MCP server's: the body of each request is
// read as one JSON-RPC message (`application/json`, at most body_limit,
// no batch, no duplicate or case-variant member names) and judged by its
// method and, for `tools/call`, its tool (`params.name`). Every request
// needs what the route needs (its scopes, acr and max_age); a declared
// method or tool needs its own on top. A tool of a `tools/call` also needs
// what the method `tools/call` declares. A request without a body (the GET
// of the server's event stream, the DELETE that ends a session) and a
// response of the client's to a request of the server's need what the
// route needs. A method or tool named like a declared one in another case
// is refused (400). Refusals speak the MCP authorization spec: 401s name
// the route's scopes, and a 403 `insufficient_scope` names the scopes to
// request (the call's and those the token already holds that the route
// knows of), so that a client re-authorizing with them loses nothing.
type MCPConfig struct {
	// What JSON-RPC methods need, by exact name (`resources/read`,
	// `tools/call`, `prompts/get`). Default: none (the route's).
	Methods map[string]*MCPNeed `json:"methods,omitempty"`
	// What MCP tools need, by exact name (the `params.name` of a
	// `tools/call`). Default: none (the route's, and the method
	// `tools/call`'s if declared).
	Tools map[string]*MCPNeed `json:"tools,omitempty"`
}

// MCPNeed is what one method or tool needs on top of the route. At least
// one field is set.
type MCPNeed struct {
	// Scopes the token must also carry, every one. Default: none.
	Scopes []string `json:"scopes,omitempty"`
	// The token's acr must also be one of these (RFC 9470). With the
	// route's acr too, it must be in both lists. Default: none.
	ACR []string `json:"acr,omitempty"`
	// The token's auth_time at most this old; the shortest max_age of the
	// route, the method and the tool applies. Whole seconds, at least 1s.
	// Default: 0 (the route's).
	MaxAge Duration `json:"max_age,omitempty"`
}

// RouteConfig is the block as the route's decision takes it.
func (c *MCPConfig) RouteConfig() *enforce.MCPConfig {
	convert := func(in map[string]*MCPNeed) map[string]enforce.MCPNeed {
		if in == nil {
			return nil
		}
		out := make(map[string]enforce.MCPNeed, len(in))
		for name, n := range in {
			if n == nil {
				n = new(MCPNeed)
			}
			out[name] = enforce.MCPNeed{Scopes: n.Scopes, ACR: n.ACR, MaxAge: time.Duration(n.MaxAge)}
		}
		return out
	}
	return &enforce.MCPConfig{Methods: convert(c.Methods), Tools: convert(c.Tools)}
}
