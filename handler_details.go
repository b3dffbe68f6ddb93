// The stepup handler's authorization_details word (RFC 9396): what a
// route requires of a token's authorization details, read from its config
// and checked, then handed to enforce as plain values.

package caddystepup

import (
	"errors"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// detailsRequirements are the handler's requirements as enforce takes them.
func (h *Handler) detailsRequirements() []enforce.DetailsRequirement {
	var out []enforce.DetailsRequirement
	for _, dc := range h.AuthorizationDetails {
		if dc != nil {
			out = append(out, dc.Requirement())
		}
	}
	return out
}

// detailTypes are the types the route reads (enforce.DetailTypes).
func (h *Handler) detailTypes() []string {
	return enforce.DetailTypes(h.detailsRequirements(), len(h.Bind) > 0)
}

// validateDetails checks each requirement (enforce.DetailsRequirement.Check).
func (h *Handler) validateDetails() error {
	if len(h.AuthorizationDetails) > 0 && h.MCP != nil {
		return errors.New("authorization_details reads the body as a transaction, mcp as a JSON-RPC message: a route has one or the other")
	}
	for _, dc := range h.AuthorizationDetails {
		if dc == nil {
			return enforce.DetailsRequirement{}.Check() // the refusal of a missing type
		}
		if err := dc.Requirement().Check(); err != nil {
			return err
		}
	}
	return nil
}

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
