package caddystepup

import (
	"encoding/json"
	"maps"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/stepup"
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

// preludePasskeyConfig is the body of PUT .../config/passkey.
type preludePasskeyConfig struct {
	RPID                  string   `json:"rp_id"`
	RPName                string   `json:"rp_name"`
	AllowedOrigins        []string `json:"allowed_origins"`
	UserVerification      string   `json:"user_verification"`
	AttestationPreference string   `json:"attestation_preference"`
	LoginEnabled          bool     `json:"login_enabled"`
	GrantedScopes         []string `json:"granted_scopes"`
	AAGUIDAllowlist       []string `json:"aaguid_allowlist"`
}

// passkeyPostedNames are its member names, exactly as written.
var passkeyPostedNames = map[string]bool{
	"rp_id": true, "rp_name": true, "allowed_origins": true, "user_verification": true,
	"attestation_preference": true, "login_enabled": true, "granted_scopes": true, "aaguid_allowlist": true,
}

var errNoPasskeyBlock = &adminapi.Error{Kind: apierror.NotFound, Code: "not_found", Message: "Passkeys are not configured."}

// parsePostedPasskey reads and checks the body of PUT .../config/passkey:
// rp_id, rp_name and allowed_origins are required, as Prelude requires
// them.
func parsePostedPasskey(body []byte) (*PasskeyConfig, error) {
	var cfg preludePasskeyConfig
	if err := decodePostedNames(body, &cfg, passkeyPostedNames); err != nil {
		return nil, err
	}
	if cfg.RPID == "" || cfg.RPName == "" || len(cfg.AllowedOrigins) == 0 {
		return nil, badRequest("rp_id, rp_name and allowed_origins are required.")
	}
	if len(cfg.GrantedScopes) > 0 {
		return nil, badRequest("granted_scopes: sessions opened by a passkey login hold no scope here; a scope is granted by a step-up (leave it out or empty).")
	}
	return &PasskeyConfig{RPID: cfg.RPID, RPName: cfg.RPName, AllowedOrigins: cfg.AllowedOrigins,
		UserVerification: cfg.UserVerification, AttestationPreference: cfg.AttestationPreference,
		LoginEnabled: cfg.LoginEnabled, AAGUIDAllowlist: cfg.AAGUIDAllowlist}, nil
}

// checkPostedPasskey checks the passkey block the call makes against the
// running app, as its Validate would: the relying party's settings, the
// acr rules with the block's own acr words, what enrolment needs.
func (a *App) checkPostedPasskey(p *PasskeyConfig) error {
	next := *p
	if a.Passkey != nil {
		next.ACR, next.HardwareACR = a.Passkey.ACR, a.Passkey.HardwareACR
	}
	scopes := maps.Clone(a.Scopes)
	if a.defaultWriteScope {
		delete(scopes, stepup.PasskeyWriteScope) // declared again by the candidate's defaults
	}
	candidate := &App{Issuer: a.Issuer, ExternalURL: a.ExternalURL, LoginACR: a.LoginACR, PossessionACR: a.PossessionACR,
		Login: a.Login, OTP: a.OTP, CustomSteps: a.CustomSteps, Scopes: scopes, Passkey: &next}
	candidate.setPasskeyDefaults()
	if err := candidate.validatePasskey(); err != nil {
		return badRequest("%v", err)
	}
	if err := candidate.validateEngine(); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// setPasskey writes the posted settings into apps.stepup's passkey block,
// keeping its other members, and answers the configuration.
func setPasskey(raw map[string]json.RawMessage, p *PasskeyConfig, now string) any {
	block := map[string]json.RawMessage{}
	_ = json.Unmarshal(raw["passkey"], &block) // absent, or a block Caddy loaded
	if block == nil {
		block = map[string]json.RawMessage{}
	}
	for name := range passkeyPostedNames {
		delete(block, name)
	}
	posted := map[string]json.RawMessage{}
	_ = json.Unmarshal(mustRaw(p), &posted) // PasskeyConfig's omitempty names are Prelude's
	maps.Copy(block, posted)
	raw["passkey"] = mustRaw(block)
	mgmt := stamped(raw, now)
	raw["management"] = mustRaw(mgmt)
	var created string
	_ = json.Unmarshal(mgmt["created_at"], &created)
	return map[string]any{"config": passkeyView(p, created, now)}
}

// passkeyView is a passkey block in Prelude's shape.
func passkeyView(p *PasskeyConfig, created, updated string) map[string]any {
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
		mc = &ManagementConfig{}
	}
	return map[string]any{"config": passkeyView(&p, mc.CreatedAt, mc.UpdatedAt)}, nil
}
