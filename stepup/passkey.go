package stepup

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
)

// Passkeys (WebAuthn, with github.com/go-webauthn/webauthn): the relying
// party's settings and the library's instance built from them. The wire is
// Prelude's mobile SDKs' (prelude-passkeys.md): enrolment under
// /me/passkeys (passkey_register.go, passkeys.go), the verify_passkey step
// (step_passkey.go) and passkey login (login_passkey.go).

// Passkey settings' words.
const (
	UVRequired    = "required"
	UVPreferred   = "preferred"
	UVDiscouraged = "discouraged"

	AttestationNone       = "none"
	AttestationIndirect   = "indirect"
	AttestationDirect     = "direct"
	AttestationEnterprise = "enterprise"
)

// DefaultPasskeyACR is the acr of a passkey login when the passkey
// settings name none.
const DefaultPasskeyACR = "urn:stepup:passkey"

// maxPasskeysPerUser bounds the credentials one user may hold.
const maxPasskeysPerUser = 10

// androidOriginPrefix starts the origin Android's Credential Manager puts
// in clientDataJSON for a native app (the SHA-256 of its signing
// certificate, base64url).
const androidOriginPrefix = "android:apk-key-hash:"

// PasskeyPolicy is the relying party: who it is, which origins may run
// its ceremonies, what it asks of authenticators, and what a passkey
// earns.
type PasskeyPolicy struct {
	// RPID is the relying party ID: a domain (no scheme, no port) that
	// every allowed origin's host is or ends with. Credentials are bound
	// to it: changing it later leaves existing ones unusable.
	RPID string
	// RPName is the name authenticators show.
	RPName string
	// Origins are the origins a ceremony may come from: https://host[:port]
	// (http://localhost[:port] when RPID is localhost), or an Android
	// app's android:apk-key-hash:<hash>.
	Origins []string
	// UserVerification is required (the default), preferred or
	// discouraged: whether the authenticator must verify its user (PIN,
	// biometrics) rather than only see one present.
	UserVerification string
	// Attestation is the attestation preference at enrolment: none (the
	// default), indirect, direct or enterprise.
	Attestation string
	// Login turns passkey login (discoverable credentials) on; enrolment
	// then asks for a discoverable credential.
	Login bool
	// AAGUIDs, when set, are the authenticator models that may enrol
	// (lower-case UUIDs); it needs Attestation direct or enterprise.
	AAGUIDs []string
	// ACR is the acr a passkey earns: a completed step-up whose steps
	// include verify_passkey (when its scope names no acr of its own),
	// and a passkey login. "": none of its own (step-ups keep the scope's
	// or the login's acr; a login gets DefaultPasskeyACR).
	ACR string
	// HardwareACR is the acr a device-bound passkey earns instead of ACR
	// (one that is not backup eligible: its key cannot leave the
	// authenticator). "": ACR for every passkey.
	HardwareACR string
}

func (p *PasskeyPolicy) setDefaults() {
	if p.UserVerification == "" {
		p.UserVerification = UVRequired
	}
	if p.Attestation == "" {
		p.Attestation = AttestationNone
	}
}

// Validate checks the settings (defaults applied).
func (p *PasskeyPolicy) Validate() error {
	if err := protocol.ValidateRPID(p.RPID); err != nil || p.RPID != strings.ToLower(p.RPID) || strings.ContainsAny(p.RPID, ":/") {
		return fmt.Errorf("rp_id %q: a lower-case domain name, no scheme or port", p.RPID)
	}
	if p.RPName == "" || len(p.RPName) > 64 || strings.ContainsFunc(p.RPName, isControl) {
		return errors.New("rp_name: 1 to 64 bytes, no control characters")
	}
	if len(p.Origins) == 0 {
		return errors.New("allowed_origins: at least one origin")
	}
	for _, o := range p.Origins {
		if err := checkPasskeyOrigin(o, p.RPID); err != nil {
			return fmt.Errorf("allowed_origins: %v", err)
		}
	}
	switch p.UserVerification {
	case UVRequired, UVPreferred, UVDiscouraged:
	default:
		return fmt.Errorf("user_verification %q: required, preferred or discouraged", p.UserVerification)
	}
	switch p.Attestation {
	case AttestationNone, AttestationIndirect, AttestationDirect, AttestationEnterprise:
	default:
		return fmt.Errorf("attestation %q: none, indirect, direct or enterprise", p.Attestation)
	}
	for _, a := range p.AAGUIDs {
		if id, err := uuid.Parse(a); err != nil || id.String() != a || id == uuid.Nil {
			return fmt.Errorf("aaguids: %q is not a lower-case UUID (8-4-4-4-12 hexadecimal digits, not all zero)", a)
		}
	}
	if len(p.AAGUIDs) > 0 && p.Attestation != AttestationDirect && p.Attestation != AttestationEnterprise {
		return errors.New("aaguids: an allow-list needs attestation direct or enterprise (an authenticator sends its model only in an attestation)")
	}
	for name, v := range map[string]string{"acr": p.ACR, "acr_hardware": p.HardwareACR} {
		if v != "" && !ValidACR(v) {
			return fmt.Errorf("%s %q: 1 to %d printable ASCII characters, no space, quote or backslash", name, v, maxACRLen)
		}
	}
	if p.ACR != "" && p.ACR == p.HardwareACR {
		return errors.New("acr and acr_hardware must differ")
	}
	return nil
}

// checkPasskeyOrigin accepts https://host[:port] whose host is rpID or a
// subdomain of it, http://localhost[:port] for rp ID localhost, and
// android:apk-key-hash:<base64url SHA-256>; exactly as a client writes
// an origin (lower case, no path, no trailing slash).
func checkPasskeyOrigin(o, rpID string) error {
	if hash, ok := strings.CutPrefix(o, androidOriginPrefix); ok {
		if !isBase64URL(hash, 43) {
			return fmt.Errorf("%q: an Android origin is %s followed by the base64url SHA-256 of the app's signing certificate (43 characters)", o, androidOriginPrefix)
		}
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.HasSuffix(o, "/") || o != strings.ToLower(o) {
		return fmt.Errorf("%q: an origin is scheme://host[:port], lower case, nothing after", o)
	}
	host := u.Hostname()
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return fmt.Errorf("%q: its host is neither the rp_id %q nor a subdomain of it", o, rpID)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && host == "localhost":
	default:
		return fmt.Errorf("%q: https only (http for localhost)", o)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// relyingParty is the library's instance for the policy. Ceremonies'
// state is the engine's own records (passkey_ceremony.go), never the
// library's serialized session data, whose format changes between
// releases.
func (p *PasskeyPolicy) relyingParty() (*webauthn.WebAuthn, error) {
	var web, native []string
	for _, o := range p.Origins {
		if strings.HasPrefix(o, androidOriginPrefix) {
			native = append(native, o)
		} else {
			web = append(web, o)
		}
	}
	return webauthn.New(&webauthn.Config{
		RPID: p.RPID, RPDisplayName: p.RPName, RPOrigins: web, RPOpaqueOrigins: native,
		AttestationPreference: protocol.ConveyancePreference(p.Attestation),
		// Client extension outputs nobody asked for are ignored, never
		// read: Android's Credential Manager returns credProps unprompted,
		// and the gateway reads no extension output.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
}

// passkeyACRs are the acr values only a passkey earns.
func (p *PasskeyPolicy) passkeyACRs() []string {
	var out []string
	for _, v := range []string{p.ACR, p.HardwareACR} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// isPasskeyACR reports whether v is an acr only a passkey earns.
func (cfg *Config) isPasskeyACR(v string) bool {
	return cfg.Passkeys != nil && v != "" && slices.Contains(cfg.Passkeys.passkeyACRs(), v)
}

// PasskeyLoginOffered reports whether passkey login is on.
func (e *Engine) PasskeyLoginOffered() bool { return e.cfg.Passkeys != nil && e.cfg.Passkeys.Login }
