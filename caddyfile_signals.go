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
//			configuration_url    <url>
//			stream_authorization <header value>
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
	return parseWords(d, "stepup_signals", map[string]word{
		"max_age": {dur: &h.MaxAge, once: true}, "leeway": {dur: &h.Leeway, once: true},
		"transmitter": {parse: func() error {
			t, err := parseSignalsTransmitter(d)
			if err == nil {
				h.Transmitters = append(h.Transmitters, t)
			}
			return err
		}},
	})
}

// parseSignalsTransmitter parses one transmitter block.
func parseSignalsTransmitter(d *caddyfile.Dispenser) (appconfig.Transmitter, error) {
	var t appconfig.Transmitter
	if !d.NextArg() {
		return t, d.ArgErr()
	}
	t.Issuer = d.Val()
	if d.NextArg() {
		return t, d.ArgErr()
	}
	// "Bearer {env.TOKEN}" is two tokens: the header value is what they
	// say, one space apart.
	header := func(dst *string) word {
		return word{parse: func() error {
			if *dst != "" {
				return d.Errf("%s already specified", d.Val())
			}
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			*dst = strings.Join(args, " ")
			return nil
		}}
	}
	err := parseWords(d, "transmitter", map[string]word{
		"jwks_url": {str: &t.JWKSURL, once: true}, "stream_id": {str: &t.StreamID, once: true}, "poll_url": {str: &t.PollURL, once: true},
		"configuration_url": {str: &t.ConfigurationURL, once: true},
		"poll_interval":     {dur: &t.PollInterval, once: true},
		"authorization":     header(&t.Authorization), "poll_authorization": header(&t.PollAuthorization),
		"stream_authorization": header(&t.StreamAuthorization),
		"audience":             {list: &t.Audience}, "algorithms": {list: &t.Algorithms}, "subject_issuers": {list: &t.SubjectIssuers},
	})
	return t, err
}
