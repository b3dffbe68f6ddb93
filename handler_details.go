// The stepup handler's authorization_details word (RFC 9396): what a
// route requires of a token's authorization details, read from its config
// and checked, then handed to enforce as plain values.

package caddystepup

import (
	"errors"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// DetailsConfig requires an authorization_details entry (RFC 9396) of a
// type in the request's access token, whose fields equal the request's
// JSON body, e.g. a `payment_initiation` entry whose
// `instructedAmount.amount` is the body's `amount`. The body is read as
// `bind` reads it: one `application/json` object every parser reads alike.
type DetailsConfig struct {
	// The entry's `type`, compared exactly. Required.
	Type string `json:"type,omitempty"`
	// Values the entry's `actions` must all include. Default: none
	// (`actions` not read).
	Actions []string `json:"actions,omitempty"`
	// Members of the entry that must equal members of the body.
	// Default: none (an entry of the type is enough).
	Match []DetailMatch `json:"match,omitempty"`
}

// DetailMatch pairs a member of the entry with a member of the body, each
// a dotted path through nested objects.
type DetailMatch struct {
	// The entry's member, e.g. `instructedAmount.amount`.
	Detail string `json:"detail,omitempty"`
	// The body's member, e.g. `amount`. Default: the same path as Detail.
	Body string `json:"body,omitempty"`
}

// detailsRequirements are the handler's requirements as enforce takes them.
func (h *Handler) detailsRequirements() []enforce.DetailsRequirement {
	var out []enforce.DetailsRequirement
	for _, dc := range h.AuthorizationDetails {
		if dc != nil {
			out = append(out, dc.requirement())
		}
	}
	return out
}

// requirement is the block as enforce takes it: a match's body path
// defaults to its detail path.
func (dc *DetailsConfig) requirement() enforce.DetailsRequirement {
	req := enforce.DetailsRequirement{Type: dc.Type, Actions: dc.Actions}
	for _, m := range dc.Match {
		body := m.Body
		if body == "" {
			body = m.Detail
		}
		req.Fields = append(req.Fields, enforce.DetailField{Detail: m.Detail, Body: body})
	}
	return req
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
		if err := dc.requirement().Check(); err != nil {
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
	dc := new(DetailsConfig)
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
			m := DetailMatch{Detail: args[0]}
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
