// The stepup handler's authorization_details word (RFC 9396): what a
// route requires of a token's authorization details, read from its config
// and checked, then handed to enforce as plain values.

package caddystepup

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// unmarshalDetails parses one authorization_details block:
//
//	authorization_details <type> {
//		actions <action...>
//		match   <detail.path> [<body.path>]
//	}
func (h *Handler) unmarshalDetails(d *caddyfile.Dispenser) error {
	dc := new(appconfig.DetailsConfig)
	if !d.NextArg() {
		return d.ArgErr()
	}
	dc.Type = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "actions":
			dc.Actions = append(dc.Actions, d.RemainingArgs()...)
			if len(dc.Actions) == 0 {
				return d.ArgErr()
			}
		case "match":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Err("match <detail.path> [<body.path>]")
			}
			m := appconfig.DetailMatch{Detail: args[0]}
			if len(args) == 2 {
				m.Body = args[1]
			}
			dc.Match = append(dc.Match, m)
		default:
			return d.Errf("unrecognized authorization_details option '%s'", d.Val())
		}
	}
	h.AuthorizationDetails = append(h.AuthorizationDetails, dc)
	return nil
}
