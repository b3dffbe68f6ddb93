// A route in front of an MCP server (Streamable HTTP): each request's
// JSON-RPC message read strictly, and what its method or tool needs on
// top of the route.

package enforce

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/mcp"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// MCPConfig is what the methods and tools of an MCP server need beyond
// the route, by exact name.
type MCPConfig struct {
	Methods map[string]MCPNeed
	Tools   map[string]MCPNeed
}

// MCPNeed is what one method or tool adds: scopes (each required), acr
// values (the token's must also be one of these), a max_age (the shortest
// applies).
type MCPNeed struct {
	Scopes []string
	ACR    []string
	MaxAge time.Duration
}

// maxMaxAge bounds a max_age: a year.
const maxMaxAge = 8760 * time.Hour

// Validate checks the block against the route's acr values: names every
// parser reads alike, each need non-empty and well formed, and acr lists
// that one token can meet together.
func (c *MCPConfig) Validate(routeACR []string) error {
	if _, err := mcp.NewPolicy(c.Methods, c.Tools); err != nil {
		return err
	}
	for _, name := range sortedNames(c.Methods) {
		n := c.Methods[name]
		if err := n.validate("method " + name); err != nil {
			return err
		}
		if _, ok := meetACR(routeACR, n.ACR); !ok {
			return fmt.Errorf("method %s: none of its acr values is one of the route's", name)
		}
	}
	toolsCall := c.Methods[mcp.MethodToolsCall]
	for _, name := range sortedNames(c.Tools) {
		n := c.Tools[name]
		if err := n.validate("tool " + name); err != nil {
			return err
		}
		if _, ok := meetACR(routeACR, toolsCall.ACR, n.ACR); !ok {
			return fmt.Errorf("tool %s: none of its acr values is one of the route's and tools/call's", name)
		}
	}
	return nil
}

func (n MCPNeed) validate(what string) error {
	if len(n.Scopes) == 0 && len(n.ACR) == 0 && n.MaxAge == 0 {
		return errors.New(what + ": needs a scope, acr or max_age")
	}
	for _, s := range n.Scopes {
		if !stepup.ValidKey(s) {
			return errors.New(what + ": scope " + quoteName(s) + ": letters, digits and . _ : - only")
		}
	}
	for _, v := range n.ACR {
		if !stepup.ValidACR(v) {
			return errors.New(what + ": acr " + quoteName(v) + ": 1 to 255 printable ASCII characters, no space, quote or backslash")
		}
	}
	if m := n.MaxAge; m != 0 && (m < time.Second || m%time.Second != 0 || m > maxMaxAge) {
		return errors.New(what + ": max_age must be whole seconds, from 1s to 8760h")
	}
	return nil
}

// meetACR is the acr values a token must have to meet every list (an
// empty list asks for none): nil when none asks, the values in all of
// those that ask otherwise. ok is false when they share no value.
func meetACR(lists ...[]string) (all []string, ok bool) {
	asked := false
	for _, l := range lists {
		if len(l) == 0 {
			continue
		}
		if !asked {
			all, asked = slices.Clone(l), true
			continue
		}
		all = slices.DeleteFunc(all, func(v string) bool { return !slices.Contains(l, v) })
	}
	return all, !asked || len(all) > 0
}

func sortedNames(m map[string]MCPNeed) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// mcpJudge is a route's MCP block, ready for requests.
type mcpJudge struct {
	policy *mcp.Policy[*requirement]
	// known is every scope the route and its block name: the scopes of a
	// token that a 403 asks the client to keep.
	known []string
}

// newMCPJudge builds what each declared method and tool needs: the
// route's requirement with theirs added (a tool's with the tools/call
// method's too).
func (ro *Route) newMCPJudge(c *MCPConfig) (*mcpJudge, error) {
	// Lists no token meets would read as "any acr" below: never build them.
	if err := c.Validate(ro.cfg.ACR); err != nil {
		return nil, err
	}
	j := &mcpJudge{known: slices.Clone(ro.cfg.Scopes)}
	methods := make(map[string]*requirement, len(c.Methods))
	for name, n := range c.Methods {
		methods[name] = ro.requirementWith(n)
		j.learn(n.Scopes)
	}
	tools := make(map[string]*requirement, len(c.Tools))
	for name, n := range c.Tools {
		tools[name] = ro.requirementWith(c.Methods[mcp.MethodToolsCall], n)
		j.learn(n.Scopes)
	}
	policy, err := mcp.NewPolicy(methods, tools)
	if err != nil {
		return nil, err
	}
	j.policy = policy
	return j, nil
}

func (j *mcpJudge) learn(scopes []string) {
	for _, s := range scopes {
		if !slices.Contains(j.known, s) {
			j.known = append(j.known, s)
		}
	}
}

// requirementWith is the route's requirement with needs added: their
// scopes, their acr lists (the token's acr must be in each), the shortest
// max_age.
func (ro *Route) requirementWith(needs ...MCPNeed) *requirement {
	cfg := &ro.cfg
	req := &requirement{scopes: cfg.Scopes, any: cfg.Any, maxAge: cfg.MaxAge}
	lists := [][]string{cfg.ACR}
	for _, n := range needs {
		lists = append(lists, n.ACR)
		for _, s := range n.Scopes {
			// With any, a route scope a tool names is needed for itself.
			if (cfg.Any || !slices.Contains(cfg.Scopes, s)) && !slices.Contains(req.extra, s) {
				req.extra = append(req.extra, s)
			}
		}
		if n.MaxAge != 0 && (req.maxAge == 0 || n.MaxAge < req.maxAge) {
			req.maxAge = n.MaxAge
		}
	}
	req.acr, _ = meetACR(lists...) // Validate saw that they meet
	req.plan(ro.scopes)
	return req
}

// judgeMCP reads the request's JSON-RPC message, if it has a body, and
// returns what the request needs. A body must be one `application/json`
// message that every parser reads alike, within BodyLimit.
func (ro *Route) judgeMCP(r *http.Request, rs *refusals) (*requirement, *Refusal) {
	if r.ContentLength == 0 {
		return &ro.route, nil // the GET of the event stream, a DELETE
	}
	if err := mcp.CheckContentType(r.Header["Content-Type"], r.Header["Content-Encoding"]); err != nil {
		ro.debug("MCP request refused", err)
		return nil, &rs.badMessage
	}
	raw, err := ro.readBody(r)
	if err != nil {
		ro.debug("MCP request body refused", err)
		if errors.Is(err, ErrBodyTooLarge) {
			return nil, &rs.tooLarge
		}
		return nil, &rs.badMessage
	}
	m, err := mcp.ParseMessage(raw)
	if err == nil {
		var req *requirement
		var declared bool
		if req, declared, err = ro.mcp.policy.Lookup(m); err == nil {
			if !declared {
				return &ro.route, nil
			}
			return req, nil
		}
	}
	ro.debug("MCP message refused", err)
	return nil, &rs.badMessage
}

// scopesToRequest is the scope of an MCP route's 403 insufficient_scope:
// what the MCP authorization spec recommends a server send, the scopes the
// call needs and those the token holds that the route knows of, so that a
// client that re-authorizes with exactly them (as the MCP SDKs do) loses
// no scope it had. With any, the route's part is one of its scopes: one
// the token has, else the first.
func (j *mcpJudge) scopesToRequest(req *requirement, have []string) string {
	var ask []string
	add := func(s string) {
		if !slices.Contains(ask, s) {
			ask = append(ask, s)
		}
	}
	if req.any {
		pick := req.scopes[0]
		for _, s := range req.scopes {
			if slices.Contains(have, s) {
				pick = s
				break
			}
		}
		add(pick)
	} else {
		for _, s := range req.scopes {
			add(s)
		}
	}
	for _, s := range req.extra {
		add(s)
	}
	for _, s := range have {
		if slices.Contains(j.known, s) {
			add(s)
		}
	}
	return strings.Join(ask, " ")
}
