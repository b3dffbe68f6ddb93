// Caddyfile parsing of the stepup_signals directive.

package caddystepup

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// parseSignalsDirective parses the `stepup_signals` directive.
func parseSignalsDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(SignalsHandler)
	return handler, handler.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the Shared Signals receiver. The
// authorization values are kept as written ({env.NAME}) and resolved at
// Provision. Syntax:
//
//	stepup_signals [<matcher>] {
//		transmitter <issuer> {
//			jwks_url        <url>
//			audience        <aud...>
//			algorithms      <alg...>
//			authorization   <header value>
//			stream_id       <id>
//			subject_issuers <issuer...>
//			poll_url           <url>
//			poll_authorization <header value>
//			poll_interval      <duration>
//		}
//		max_age <duration>
//		leeway  <duration>
//	}
func (h *SignalsHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		option := d.Val()
		switch option {
		case "transmitter":
			t, err := parseSignalsTransmitter(d)
			if err != nil {
				return err
			}
			h.Transmitters = append(h.Transmitters, t)
		case "max_age", "leeway":
			target := map[string]*appconfig.Duration{"max_age": &h.MaxAge, "leeway": &h.Leeway}[option]
			if *target != 0 {
				return d.Errf("%s already specified", option)
			}
			if err := durationArg(d, target); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized stepup_signals option '%s'", option)
		}
	}
	return nil
}

// parseSignalsTransmitter parses one transmitter block.
func parseSignalsTransmitter(d *caddyfile.Dispenser) (SignalsTransmitter, error) {
	var t SignalsTransmitter
	if !d.NextArg() {
		return t, d.ArgErr()
	}
	t.Issuer = d.Val()
	if d.NextArg() {
		return t, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		switch option {
		case "jwks_url", "stream_id", "poll_url":
			target := map[string]*string{"jwks_url": &t.JWKSURL, "stream_id": &t.StreamID, "poll_url": &t.PollURL}[option]
			if *target != "" {
				return t, d.Errf("%s already specified", option)
			}
			if err := oneArg(d, target); err != nil {
				return t, err
			}
		case "authorization", "poll_authorization":
			// "Bearer {env.TOKEN}" is two tokens: the header value is
			// what they say, one space apart.
			target := map[string]*string{"authorization": &t.Authorization, "poll_authorization": &t.PollAuthorization}[option]
			if *target != "" {
				return t, d.Errf("%s already specified", option)
			}
			args := d.RemainingArgs()
			if len(args) == 0 {
				return t, d.ArgErr()
			}
			*target = strings.Join(args, " ")
		case "poll_interval":
			if t.PollInterval != 0 {
				return t, d.Err("poll_interval already specified")
			}
			if err := durationArg(d, &t.PollInterval); err != nil {
				return t, err
			}
		case "audience", "algorithms", "subject_issuers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return t, d.ArgErr()
			}
			target := map[string]*[]string{"audience": &t.Audience, "algorithms": &t.Algorithms, "subject_issuers": &t.SubjectIssuers}[option]
			*target = append(*target, args...)
		default:
			return t, d.Errf("unrecognized transmitter option '%s'", option)
		}
	}
	return t, nil
}
