package appconfig

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// PasskeyConfig turns passkeys (WebAuthn) on, with the words of Prelude's
// passkey configuration: enrolment under /v1/session/me/passkeys, the
// `verify_passkey` step of `direct` scopes and hook answers, and, with
// `login_enabled`, passkey login (/v1/session/login/passkey). Enrolment
// needs the `prld:passkey:write` scope, which a step-up grants just
// before; unless a `scope prld:passkey:write` block says otherwise, that
// step-up is a code to the user's phone (`verify_sms`, when OTP login
// takes phone numbers) or email (`verify_email`), granted single-use for
// 5 minutes: the same step for every user, so with both phone and email
// login, declare the scope yourself (a hook choosing per user).
type PasskeyConfig struct {
	// The relying party ID: a domain, no scheme, no port, that every
	// allowed origin's host is or ends with. Passkeys are bound to it:
	// changing it later leaves every enrolled passkey unusable. Default:
	// the host of external_url (else issuer).
	RPID string `json:"rp_id,omitempty"`

	// The name authenticators show, up to 64 bytes. Default: the rp_id.
	RPName string `json:"rp_name,omitempty"`

	// The origins ceremonies may come from, exactly as a client writes
	// them: `https://host[:port]` with host the rp_id or a subdomain of it
	// (`http://localhost[:port]` when the rp_id is localhost), or an
	// Android app's `android:apk-key-hash:<base64url SHA-256 of its
	// signing certificate>` (iOS apps use https://<rp_id>). Default: the
	// origin of external_url (else issuer).
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	// Whether the authenticator must verify its user (a PIN or a
	// biometric), not only see one present: `required`, `preferred` or
	// `discouraged`. Default: required.
	UserVerification string `json:"user_verification,omitempty"`

	// The attestation asked for at enrolment: `none`, `indirect`, `direct`
	// or `enterprise`. Default: none.
	AttestationPreference string `json:"attestation_preference,omitempty"`

	// Passkey login (discoverable credentials: no user name typed).
	// Enrolment then asks for a discoverable credential. Default: off.
	LoginEnabled bool `json:"login_enabled,omitempty"`

	// The authenticator models (AAGUIDs, lower-case UUIDs) that may enrol;
	// needs attestation_preference direct or enterprise, and an enrolment
	// then needs an attestation statement signed by a certificate (no
	// `none`, no self attestation) naming a listed model. The gateway has
	// no FIDO Metadata Service trust roots: the list keeps other models an
	// honest user might own out, not a forged attestation. Default: any
	// model.
	AAGUIDAllowlist []string `json:"aaguid_allowlist,omitempty"`

	// The acr a passkey earns: a step-up whose steps include
	// `verify_passkey` (when its scope has no `acr` of its own) and a
	// passkey login. No code, password or provider login ever earns it: a
	// `direct` scope with this acr and no `verify_passkey` step, or a
	// login_acr (or password or provider acr) equal to it, is refused at
	// load. Default: none (a step-up keeps its scope's or the login's
	// acr; a passkey login gets `urn:stepup:passkey`).
	ACR string `json:"acr,omitempty"`

	// The acr a device-bound passkey earns instead of `acr`: one whose
	// authenticator says it is not backup eligible (its key cannot leave
	// the device; RFC 8176 `hwk`, where a synced passkey is `swk`). A
	// scope whose acr is this one earns nothing with a synced passkey.
	// Default: none (`acr` for every passkey).
	HardwareACR string `json:"acr_hardware,omitempty"`
}

// passkeyWriteStep is the step of the built-in enrolment scope: a code to
// the phone when OTP login takes phone numbers, else to the email.
func (c *Config) passkeyWriteStep() string {
	if c.Login != nil && slices.Contains(c.Login.OTP, stepup.IdentifierPhone) {
		return stepup.StepVerifySMS
	}
	return stepup.StepVerifyEmail
}

// setPasskeyDefaults fills in the passkey block's defaults, and the
// enrolment scope when no scope block declares it.
func (c *Config) setPasskeyDefaults() {
	p := c.Passkey
	if p == nil {
		return
	}
	origin := strings.ToLower(c.ExternalOrigin())
	if u, err := url.Parse(origin); err == nil && p.RPID == "" {
		p.RPID = u.Hostname()
	}
	if p.RPName == "" {
		p.RPName = p.RPID
	}
	if len(p.AllowedOrigins) == 0 && origin != "" {
		p.AllowedOrigins = []string{origin}
	}
	if _, declared := c.Scopes[stepup.PasskeyWriteScope]; !declared {
		if c.Scopes == nil {
			c.Scopes = map[string]*Scope{}
		}
		// Its durations and grant mode are the engine's defaults: 5m, single-use.
		c.Scopes[stepup.PasskeyWriteScope] = &Scope{Direct: &DirectScope{Steps: []DirectStep{{Key: c.passkeyWriteStep()}}}}
		c.defaultWriteScope = true
	}
}

// passkeyPolicy is the engine's relying party.
func (p *PasskeyConfig) passkeyPolicy() *stepup.PasskeyPolicy {
	if p == nil {
		return nil
	}
	return &stepup.PasskeyPolicy{RPID: p.RPID, RPName: p.RPName, Origins: p.AllowedOrigins, UserVerification: p.UserVerification,
		Attestation: p.AttestationPreference, Login: p.LoginEnabled, AAGUIDs: p.AAGUIDAllowlist, ACR: p.ACR, HardwareACR: p.HardwareACR}
}

// validatePasskey checks the passkey block with the engine's own rules,
// and what passkeys need of the rest of the config.
func (c *Config) validatePasskey() error {
	if c.Passkey == nil {
		return nil
	}
	if c.defaultWriteScope && (c.OTP == nil || c.OTP.Sender == nil) {
		return fmt.Errorf("passkey: enrolment needs the %s scope, whose built-in step-up sends a code: configure an otp sender, or a `scope %s` block of your own",
			stepup.PasskeyWriteScope, stepup.PasskeyWriteScope)
	}
	return nil
}

// CheckPasskey checks the config c would be with the passkey block p, as
// Validate would (what the management call that posts a passkey block
// checks): the relying party's settings, the acr rules with c's own
// passkey acr words (the call does not set them), what enrolment needs.
func (c *Config) CheckPasskey(p *PasskeyConfig) error {
	next := *p
	if c.Passkey != nil {
		next.ACR, next.HardwareACR = c.Passkey.ACR, c.Passkey.HardwareACR
	}
	scopes := maps.Clone(c.Scopes)
	if c.defaultWriteScope {
		delete(scopes, stepup.PasskeyWriteScope) // declared again by the candidate's defaults
	}
	candidate := &Config{Issuer: c.Issuer, ExternalURL: c.ExternalURL, LoginACR: c.LoginACR, PossessionACR: c.PossessionACR,
		Login: c.Login, OTP: c.OTP, CustomSteps: c.CustomSteps, Scopes: scopes, Passkey: &next}
	candidate.setPasskeyDefaults()
	if err := candidate.validatePasskey(); err != nil {
		return err
	}
	return candidate.ValidateEngine()
}

// DefaultWriteScope reports whether SetDefaults declared the enrolment
// scope (prld:passkey:write) because no scope block did.
func (c *Config) DefaultWriteScope() bool { return c.defaultWriteScope }
