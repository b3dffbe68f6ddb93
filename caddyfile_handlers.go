// Caddyfile parsing of the HTTP handler directives stepup,
// stepup_session and stepup_management.

package caddystepup

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// parseStepupDirective parses the `stepup` directive.
func parseStepupDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	stepup [<matcher>] [<scope...>] {
//		any
//		realm      <realm>
//		bind       <json-field...>
//		body_limit <size>
//		dpop_nonce
//		dpop_required
//		acr        <acr...>
//		max_age    <duration>
//		resource   <uri>
//		header sub|scope|sid|grant <header-name>
//		authorization_details <type> {
//			actions <action...>
//			match   <detail.path> [<body.path>]
//		}
//		mcp {
//			method <name> [<scope...>] {
//				acr     <acr...>
//				max_age <duration>
//			}
//			tool <name> [<scope...>] {
//				acr     <acr...>
//				max_age <duration>
//			}
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	h.Scopes = append(h.Scopes, d.RemainingArgs()...)
	for d.NextBlock(0) {
		switch d.Val() {
		case "any":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Any = true
		case "realm":
			if err := oneArg(d, &h.Realm); err != nil {
				return err
			}
		case "bind":
			h.Bind = append(h.Bind, d.RemainingArgs()...)
			if len(h.Bind) == 0 {
				return d.ArgErr()
			}
		case "body_limit":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size == 0 || size > 1<<40 {
				return d.Errf("body_limit: %q is not a size such as 64KiB or 1MiB", v)
			}
			h.BodyLimit = int64(size)
		case "dpop_nonce":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.DPoPNonce = true
		case "dpop_required":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.DPoPRequired = true
		case "acr":
			h.ACR = append(h.ACR, d.RemainingArgs()...)
			if len(h.ACR) == 0 {
				return d.ArgErr()
			}
		case "max_age":
			if err := durationArg(d, &h.MaxAge); err != nil {
				return err
			}
		case "resource":
			if err := oneArg(d, &h.Resource); err != nil {
				return err
			}
		case "header":
			var field, name string
			if !d.Args(&field, &name) || d.NextArg() {
				return d.Err("header sub|scope|sid|grant <header-name>")
			}
			if h.Headers == nil {
				h.Headers = new(IdentityHeaders)
			}
			target := map[string]*string{"sub": &h.Headers.Subject, "scope": &h.Headers.Scope, "sid": &h.Headers.Session, "grant": &h.Headers.Grant}[field]
			if target == nil {
				return d.Errf("header: unknown field '%s' (want sub, scope, sid or grant)", field)
			}
			*target = name
		case "authorization_details":
			if err := h.unmarshalDetails(d); err != nil {
				return err
			}
		case "mcp":
			if h.MCP != nil {
				return d.Err("mcp is given twice")
			}
			h.MCP = new(appconfig.MCPConfig)
			if err := unmarshalMCP(h.MCP, d); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized stepup option '%s'", d.Val())
		}
	}
	return nil
}

// parseSessionDirective parses the `stepup_session` directive.
func parseSessionDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(SessionHandler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the session handler. Syntax:
//
//	stepup_session
func (s *SessionHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		return d.Errf("unrecognized stepup_session option '%s'", d.Val())
	}
	return nil
}

// parseMetadataDirective parses the `stepup_metadata` directive.
func parseMetadataDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(MetadataHandler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the metadata handler. Syntax:
//
//	stepup_metadata {
//		authorization_servers  <url...>
//		resource_name          <name>
//		resource_documentation <url>
//		resource_policy_uri    <url>
//		resource_tos_uri       <url>
//	}
func (m *MetadataHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "authorization_servers":
			m.AuthorizationServers = append(m.AuthorizationServers, d.RemainingArgs()...)
			if len(m.AuthorizationServers) == 0 {
				return d.ArgErr()
			}
		case "resource_name":
			err = oneArg(d, &m.Name)
		case "resource_documentation":
			err = oneArg(d, &m.Documentation)
		case "resource_policy_uri":
			err = oneArg(d, &m.PolicyURI)
		case "resource_tos_uri":
			err = oneArg(d, &m.TOSURI)
		default:
			return d.Errf("unrecognized stepup_metadata option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseManagementDirective parses the `stepup_management` directive. The
// admin endpoint defaults to the Caddyfile's `admin` global option.
func parseManagementDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(ManagementHandler)
	if err := handler.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if admin, ok := h.Option("admin").(*caddy.AdminConfig); ok && admin != nil && handler.Admin == "" {
		if admin.Disabled {
			return nil, h.Err("stepup_management applies changes through Caddy's admin endpoint, which `admin off` turns off")
		}
		handler.Admin = admin.Listen
	}
	return handler, nil
}

// UnmarshalCaddyfile sets up the management handler. The key is kept as
// written ({env.NAME}) and resolved at Provision. Syntax:
//
//	stepup_management [<matcher>] [<key>] {
//		key   <key>
//		admin <address>
//	}
func (m *ManagementHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		m.Key = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "key":
			if m.Key != "" {
				return d.Err("stepup_management: key is given twice")
			}
			if err := oneArg(d, &m.Key); err != nil {
				return err
			}
		case "admin":
			if err := oneArg(d, &m.Admin); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized stepup_management option '%s'", d.Val())
		}
	}
	if m.Key == "" {
		return d.Err("stepup_management: a key is required (write it as {env.NAME})")
	}
	return nil
}
