// Caddyfile parsing of the per-issuer and per-scope blocks of the stepup
// global option.

package caddystepup

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// parseTrust parses `trust <issuer> { jwks_url; audience; algorithms; ... }`,
// one issuer whose access tokens the gateway accepts.
func parseTrust(d *caddyfile.Dispenser) (*appconfig.Trust, error) {
	t := new(appconfig.Trust)
	if !d.NextArg() {
		return nil, d.Err("trust needs the issuer it accepts tokens from")
	}
	t.Issuer = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "jwks_url":
			if t.JWKSURL != "" {
				return nil, d.Err("jwks_url already specified")
			}
			if err := oneArg(d, &t.JWKSURL); err != nil {
				return nil, err
			}
		case "audience":
			t.Audience = append(t.Audience, d.RemainingArgs()...)
			if len(t.Audience) == 0 {
				return nil, d.ArgErr()
			}
		case "algorithms":
			t.Algorithms = append(t.Algorithms, d.RemainingArgs()...)
			if len(t.Algorithms) == 0 {
				return nil, d.ArgErr()
			}
		case "typ":
			t.Types = append(t.Types, d.RemainingArgs()...)
			if len(t.Types) == 0 {
				return nil, d.ArgErr()
			}
		case "refresh_interval":
			if err := durationArg(d, &t.RefreshInterval); err != nil {
				return nil, err
			}
		case "max_token_lifetime":
			if err := durationArg(d, &t.MaxTokenLifetime); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized trust option '%s'", d.Val())
		}
	}
	if t.JWKSURL == "" {
		return nil, d.Errf("trust %s: jwks_url is required", t.Issuer)
	}
	return t, nil
}

// parseScope parses the block of `scope <name> { ... }`: how that scope is
// granted (delegation hook or direct steps) and for how long.
func parseScope(d *caddyfile.Dispenser) (*appconfig.Scope, error) {
	s := new(appconfig.Scope)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "delegated":
			if err := oneArg(d, &s.Delegated); err != nil {
				return nil, err
			}
		case "block":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			s.Block = true
		case "acr":
			if err := oneArg(d, &s.ACR); err != nil {
				return nil, err
			}
		case "direct":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			direct, err := parseDirect(d)
			if err != nil {
				return nil, err
			}
			s.Direct = direct
		default:
			return nil, d.Errf("unrecognized scope option '%s'", d.Val())
		}
	}
	if err := stepup.ValidateScope("x", s.Policy()); err != nil {
		return nil, d.Err(err.Error())
	}
	return s, nil
}

// parseDirect parses `direct { steps ...; ... }`, the steps the gateway
// itself asks for when no delegation hook decides; parseScope checks them
// with the engine's rules.
func parseDirect(d *caddyfile.Dispenser) (*appconfig.DirectScope, error) {
	direct := new(appconfig.DirectScope)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "step":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return nil, d.Err("step <key> [<expiration>]")
			}
			st := appconfig.DirectStep{Key: args[0]}
			if len(args) == 2 {
				dur, err := caddy.ParseDuration(args[1])
				if err != nil {
					return nil, d.Errf("step %s: expiration: %v", args[0], err)
				}
				st.Expiration = appconfig.Duration(dur)
			}
			direct.Steps = append(direct.Steps, st)
		case "granted_for":
			if err := durationArg(d, &direct.GrantedFor); err != nil {
				return nil, err
			}
		case "grant_mode":
			if err := oneArg(d, &direct.GrantMode); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized direct option '%s'", d.Val())
		}
	}
	return direct, nil
}
