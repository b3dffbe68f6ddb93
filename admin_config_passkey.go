package caddystepup

import (
	"encoding/json"
	"maps"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// Prelude's passkey management call, beside the step-up ones:
//
//	PUT|GET /stepup/v2/session/apps/{APP_ID}/config/passkey
//
// with Prelude's body (prelude-passkeys.md §8). PUT replaces the `passkey`
// block's relying party settings with the posted ones (what is left out
// takes its default); the gateway's own words of the block (acr,
// acr_hardware) stay as written. Same rules as the other calls: exact
// member names, no braces, checked against the running config, applied
// through Caddy's config API.

var errNoPasskeyBlock = &adminapi.Error{Kind: apierror.NotFound, Code: "not_found", Message: "Passkeys are not configured."}

// parsePostedPasskey reads the body of PUT .../config/passkey into the
// passkey block it makes.
func parsePostedPasskey(body []byte) (*appconfig.PasskeyConfig, error) {
	b, err := adminapi.ReadPasskey(body)
	if err != nil {
		return nil, err
	}
	return &appconfig.PasskeyConfig{RPID: b.RPID, RPName: b.RPName, AllowedOrigins: b.AllowedOrigins,
		UserVerification: b.UserVerification, AttestationPreference: b.AttestationPreference,
		LoginEnabled: b.LoginEnabled, AAGUIDAllowlist: b.AAGUIDAllowlist}, nil
}

// checkPostedPasskey checks the passkey block the call makes against the
// running app's config (appconfig.Config.CheckPasskey).
func (a *App) checkPostedPasskey(p *appconfig.PasskeyConfig) error {
	if err := a.CheckPasskey(p); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// setPasskey writes the posted settings into apps.stepup's passkey block,
// keeping its other members, and answers the configuration.
func setPasskey(raw map[string]json.RawMessage, p *appconfig.PasskeyConfig, now string) any {
	block := map[string]json.RawMessage{}
	_ = json.Unmarshal(raw["passkey"], &block) // absent, or a block Caddy loaded
	if block == nil {
		block = map[string]json.RawMessage{}
	}
	for name := range adminapi.PasskeyNames {
		delete(block, name)
	}
	posted := map[string]json.RawMessage{}
	_ = json.Unmarshal(mustRaw(p), &posted) // PasskeyConfig's omitempty names are Prelude's
	maps.Copy(block, posted)
	raw["passkey"] = mustRaw(block)
	mgmt := adminapi.Stamp(raw["management"], now)
	raw["management"] = mustRaw(mgmt)
	var created string
	_ = json.Unmarshal(mgmt["created_at"], &created)
	return map[string]any{"config": passkeyView(p, created, now)}
}

// passkeyView is a passkey block in Prelude's shape.
func passkeyView(p *appconfig.PasskeyConfig, created, updated string) map[string]any {
	orNone := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	return map[string]any{"rp_id": p.RPID, "rp_name": p.RPName, "allowed_origins": orNone(p.AllowedOrigins),
		"user_verification": p.UserVerification, "attestation_preference": p.AttestationPreference,
		"login_enabled": p.LoginEnabled, "granted_scopes": []string{}, "aaguid_allowlist": orNone(p.AAGUIDAllowlist),
		"created_at": created, "updated_at": updated}
}

// readPasskey answers GET .../config/passkey: the running block (its
// defaults applied), in Prelude's shape.
func (m *management) readPasskey() (any, error) {
	if m.app.Passkey == nil {
		return nil, errNoPasskeyBlock
	}
	p := *m.app.Passkey
	if running := m.app.settings.Passkeys; running != nil { // the engine's defaults applied
		p.UserVerification, p.AttestationPreference = running.UserVerification, running.Attestation
	}
	mc := m.app.Management
	if mc == nil {
		mc = &appconfig.ManagementConfig{}
	}
	return map[string]any{"config": passkeyView(&p, mc.CreatedAt, mc.UpdatedAt)}, nil
}
