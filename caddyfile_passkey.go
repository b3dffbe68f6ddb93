package caddystepup

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// parsePasskey parses the block of `passkey { ... }`.
func parsePasskey(d *caddyfile.Dispenser) (*appconfig.PasskeyConfig, error) {
	p := new(appconfig.PasskeyConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		word := d.Val()
		switch word {
		case "rp_id", "rp_name", "user_verification", "attestation_preference", "acr", "acr_hardware":
			target := map[string]*string{"rp_id": &p.RPID, "rp_name": &p.RPName, "user_verification": &p.UserVerification,
				"attestation_preference": &p.AttestationPreference, "acr": &p.ACR, "acr_hardware": &p.HardwareACR}[word]
			if *target != "" {
				return nil, d.Errf("passkey: %s already specified", word)
			}
			if err := oneArg(d, target); err != nil {
				return nil, err
			}
		case "allowed_origins", "aaguid_allowlist":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			if word == "allowed_origins" {
				p.AllowedOrigins = append(p.AllowedOrigins, args...)
			} else {
				p.AAGUIDAllowlist = append(p.AAGUIDAllowlist, args...)
			}
		case "login_enabled":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			p.LoginEnabled = true
		default:
			return nil, d.Errf("unrecognized passkey option '%s'", word)
		}
	}
	return p, nil
}
