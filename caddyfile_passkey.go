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
	err := parseWords(d, "passkey", map[string]word{
		"rp_id": {str: &p.RPID, once: true}, "rp_name": {str: &p.RPName, once: true},
		"user_verification": {str: &p.UserVerification, once: true}, "attestation_preference": {str: &p.AttestationPreference, once: true},
		"acr": {str: &p.ACR, once: true}, "acr_hardware": {str: &p.HardwareACR, once: true},
		"allowed_origins": {list: &p.AllowedOrigins}, "aaguid_allowlist": {list: &p.AAGUIDAllowlist},
		"login_enabled": {flag: &p.LoginEnabled},
	})
	return p, err
}
