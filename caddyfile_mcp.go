// The stepup handler's mcp block: what the methods and tools of an MCP
// server (Streamable HTTP) need on top of the route's scopes, acr and
// max_age.

package caddystepup

import (
	"sort"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unmarshalMCP reads the mcp block. Syntax:
//
//	mcp {
//		method <name> [<scope...>] {
//			acr     <acr...>
//			max_age <duration>
//		}
//		tool <name> [<scope...>] {
//			acr     <acr...>
//			max_age <duration>
//		}
//	}
func unmarshalMCP(c *appconfig.MCPConfig, d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		kind := d.Val()
		var into *map[string]*appconfig.MCPNeed
		switch kind {
		case "method":
			into = &c.Methods
		case "tool":
			into = &c.Tools
		default:
			return d.Errf("unrecognized mcp option '%s' (want method or tool)", kind)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		name := d.Val()
		if _, dup := (*into)[name]; dup {
			return d.Errf("mcp: %s %s is declared twice", kind, name)
		}
		n := &appconfig.MCPNeed{Scopes: d.RemainingArgs()}
		for inner := d.Nesting(); d.NextBlock(inner); {
			switch d.Val() {
			case "acr":
				n.ACR = append(n.ACR, d.RemainingArgs()...)
				if len(n.ACR) == 0 {
					return d.ArgErr()
				}
			case "max_age":
				if err := durationArg(d, &n.MaxAge); err != nil {
					return err
				}
			default:
				return d.Errf("unrecognized mcp %s option '%s' (want acr or max_age)", kind, d.Val())
			}
		}
		if *into == nil {
			*into = map[string]*appconfig.MCPNeed{}
		}
		(*into)[name] = n
	}
	return nil
}
