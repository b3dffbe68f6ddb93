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
	return parseWords(d, "stepup", map[string]word{
		"any": {flag: &h.Any}, "realm": {str: &h.Realm}, "bind": {list: &h.Bind}, "acr": {list: &h.ACR},
		"dpop_nonce": {flag: &h.DPoPNonce}, "dpop_required": {flag: &h.DPoPRequired},
		"max_age": {dur: &h.MaxAge}, "resource": {str: &h.Resource},
		"body_limit": {parse: func() error {
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size == 0 || size > 1<<40 {
				return d.Errf("body_limit: %q is not a size such as 64KiB or 1MiB", v)
			}
			h.BodyLimit = int64(size)
			return nil
		}},
		"header":                {parse: func() error { return h.parseHeader(d) }},
		"authorization_details": {parse: func() error { return h.unmarshalDetails(d) }},
		"mcp": {parse: func() error {
			if h.MCP != nil {
				return d.Err("mcp is given twice")
			}
			h.MCP = new(appconfig.MCPConfig)
			return unmarshalMCP(h.MCP, d)
		}},
	})
}

// parseHeader reads `header sub|scope|sid|grant <header-name>`.
func (h *Handler) parseHeader(d *caddyfile.Dispenser) error {
	var field, name string
	if !d.Args(&field, &name) || d.NextArg() {
		return d.Err("header sub|scope|sid|grant <header-name>")
	}
	if h.Headers == nil {
		h.Headers = new(appconfig.IdentityHeaders)
	}
	target := map[string]*string{"sub": &h.Headers.Subject, "scope": &h.Headers.Scope, "sid": &h.Headers.Session, "grant": &h.Headers.Grant}[field]
	if target == nil {
		return d.Errf("header: unknown field '%s' (want sub, scope, sid or grant)", field)
	}
	*target = name
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
//		signed_metadata
//	}
func (m *MetadataHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return parseWords(d, "stepup_metadata", map[string]word{
		"authorization_servers": {list: &m.AuthorizationServers}, "resource_name": {str: &m.Name},
		"resource_documentation": {str: &m.Documentation}, "resource_policy_uri": {str: &m.PolicyURI}, "resource_tos_uri": {str: &m.TOSURI},
		"signed_metadata": {flag: &m.SignedMetadata},
	})
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
