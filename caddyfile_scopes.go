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
	if err := parseWords(d, "trust", map[string]word{
		"jwks_url": {str: &t.JWKSURL, once: true}, "audience": {list: &t.Audience}, "algorithms": {list: &t.Algorithms},
		"typ": {list: &t.Types}, "refresh_interval": {dur: &t.RefreshInterval}, "max_token_lifetime": {dur: &t.MaxTokenLifetime},
	}); err != nil {
		return nil, err
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
	if err := parseWords(d, "scope", map[string]word{
		"delegated": {str: &s.Delegated}, "block": {flag: &s.Block}, "acr": {str: &s.ACR},
		"direct": {parse: func() (err error) {
			if d.NextArg() {
				return d.ArgErr()
			}
			s.Direct, err = parseDirect(d)
			return err
		}},
	}); err != nil {
		return nil, err
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
	err := parseWords(d, "direct", map[string]word{
		"granted_for": {dur: &direct.GrantedFor}, "grant_mode": {str: &direct.GrantMode},
		"step": {parse: func() error {
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Err("step <key> [<expiration>]")
			}
			st := appconfig.DirectStep{Key: args[0]}
			if len(args) == 2 {
				dur, err := caddy.ParseDuration(args[1])
				if err != nil {
					return d.Errf("step %s: expiration: %v", args[0], err)
				}
				st.Expiration = appconfig.Duration(dur)
			}
			direct.Steps = append(direct.Steps, st)
			return nil
		}},
	})
	return direct, err
}
