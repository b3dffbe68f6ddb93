package stepup

import (
	"fmt"
	"slices"
	"time"
)

// The authentication event behind a session's tokens (RFC 9470): what was
// proven (amr, RFC 8176), which context class that earns (acr), and when
// (auth_time). A login and every completed step-up is such an event; the
// last one is what the session's tokens describe.

// DefaultLoginACR is the acr of an OTP login unless Config.LoginACR says
// otherwise.
const DefaultLoginACR = "urn:stepup:otp"

// Methods (RFC 8176 values) of the gateway's own steps and logins. An SMS
// code shows the user holds the phone (otp, sms); an email code shows
// access to a mailbox, which is not a possession factor (NIST SP 800-63B
// §5.1.3.1), and says so with "email", a value outside the RFC 8176
// registry that OpenID providers also use.
var (
	methodsSMS   = []string{"otp", "sms"}
	methodsEmail = []string{"otp", "email"}
)

// possessionMethods are the RFC 8176 methods that prove possession of a
// device: a possession-based acr (Config.PossessionACR) is earned only by
// an event with one of them. "otp" alone is not among them: an email code
// is an otp too.
var possessionMethods = []string{"sms", "tel", "hwk", "swk", "sc"}

// Bounds of the amr a customer's backend may put in a verification token.
const (
	maxMethods   = 8
	maxMethodLen = 32
	maxACRLen    = 255
)

// authEvent is one authentication: when (Unix s), with which methods, and
// the acr they earned ("" when none).
type authEvent struct {
	At  int64    `json:"at"`
	ACR string   `json:"acr,omitempty"`
	AMR []string `json:"amr,omitempty"`
}

// loginEvent is an OTP login with a code sent to an identifier of type
// idType.
func (e *Engine) loginEvent(idType string, now time.Time) authEvent {
	amr := methodsOf(idType)
	return authEvent{At: now.Unix(), ACR: e.earnedACR(e.cfg.LoginACR, amr), AMR: amr}
}

// stepUpEvent is a completed challenge: its steps' methods, the acr its
// scope's policy names (else, after a passkey step, the passkey's; else
// the login's), when the last step was done.
func (e *Engine) stepUpEvent(c *challengeRecord) authEvent {
	acr := e.cfg.LoginACR
	if p, ok := e.cfg.Scopes[c.Scope]; ok && p.ACR != "" {
		acr = p.ACR
	} else if c.PasskeyLevel != "" {
		if v := e.passkeyACRFor(c.PasskeyLevel); v != "" {
			acr = v
		}
	}
	at := c.Completed
	if at == 0 {
		at = e.now().Unix() // a challenge stored before completion times were
	}
	return authEvent{At: at, ACR: e.earnedPasskeyACR(acr, c.AMR, c.PasskeyLevel), AMR: c.AMR}
}

// methodsOf is what logging in with, or proving a code sent to, an
// identifier of type typ shows.
func methodsOf(typ string) []string {
	if typ == IdentifierEmail {
		return methodsEmail
	}
	return methodsSMS
}

// provesPossession reports whether amr holds a possession method.
func provesPossession(amr []string) bool {
	for _, m := range amr {
		if slices.Contains(possessionMethods, m) {
			return true
		}
	}
	return false
}

// addMethods adds the methods of one more step to an event's amr, each
// once, in the order they were proven.
func addMethods(amr, more []string) []string {
	for _, m := range more {
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	return amr
}

// earnedACR is the acr an event without a passkey, with methods amr, may
// claim: candidate, unless candidate is possession-based and nothing in
// amr proves possession, or only a passkey earns it; then none.
func (e *Engine) earnedACR(candidate string, amr []string) string {
	return e.earnedPasskeyACR(candidate, amr, "")
}

// earnedPasskeyACR is earnedACR for an event whose passkey proved level
// (hwk: device-bound, swk: syncable, "": no passkey). The passkey acr
// values are earned only by the gateway's own passkey verification, never
// by the amr a verification token claims.
func (e *Engine) earnedPasskeyACR(candidate string, amr []string, level string) string {
	if slices.Contains(e.cfg.PossessionACR, candidate) && !provesPossession(amr) {
		return ""
	}
	if !e.cfg.earnsPasskeyACR(candidate, level) {
		return ""
	}
	return candidate
}

// ValidACR reports whether v can be an acr value: 1 to 255 printable ASCII
// characters without space, quote or backslash, so that it stands as is in
// a space-separated acr_values parameter of a WWW-Authenticate header.
func ValidACR(v string) bool {
	if v == "" || len(v) > maxACRLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// readMethods checks the amr a verification token carries: at most
// maxMethods values, each a short key (letters, digits, . _ : -).
func readMethods(amr []string) ([]string, error) {
	if len(amr) > maxMethods {
		return nil, ErrInvalidVerification
	}
	for _, m := range amr {
		if len(m) > maxMethodLen || !ValidKey(m) {
			return nil, ErrInvalidVerification
		}
	}
	return amr, nil
}

// validateACR checks the acr settings against the login identifiers and the
// scopes' steps: a possession-based acr that no configured
// way can earn is a configuration error, not a route nobody can pass.
func (cfg *Config) validateACR(steps *StepRegistry) error {
	for _, v := range append([]string{cfg.LoginACR}, cfg.PossessionACR...) {
		if !ValidACR(v) {
			return fmt.Errorf("acr %q: 1 to %d printable ASCII characters, no space, quote or backslash", v, maxACRLen)
		}
	}
	if p := cfg.Passwords; p != nil && p.ACR != "" {
		if !ValidACR(p.ACR) {
			return fmt.Errorf("password acr %q: 1 to %d printable ASCII characters, no space, quote or backslash", p.ACR, maxACRLen)
		}
		if slices.Contains(cfg.PossessionACR, p.ACR) {
			return fmt.Errorf("password acr %q is possession-based, which a password never earns", p.ACR)
		}
	}
	if err := cfg.validatePasskeyACR(steps); err != nil {
		return err
	}
	if slices.Contains(cfg.PossessionACR, cfg.LoginACR) && slices.Contains(cfg.LoginIdentifiers, IdentifierEmail) {
		return fmt.Errorf("login acr %q is possession-based, which an email login never earns: remove email from the login identifiers or choose another login acr", cfg.LoginACR)
	}
	for name, p := range cfg.Scopes {
		if p.ACR == "" {
			continue
		}
		if !ValidACR(p.ACR) {
			return fmt.Errorf("scope %s: acr %q: 1 to %d printable ASCII characters, no space, quote or backslash", name, p.ACR, maxACRLen)
		}
		if p.Direct == nil || !slices.Contains(cfg.PossessionACR, p.ACR) {
			continue
		}
		possible := false
		for _, st := range p.Direct.Steps {
			kind := steps.kinds[st.Key]
			possible = possible || kind.byBackend || kind.byPasskey || provesPossession(kind.amr)
		}
		if !possible {
			return fmt.Errorf("scope %s: acr %q is possession-based and none of its steps proves possession (an email code never does)", name, p.ACR)
		}
	}
	return nil
}

// ownACRs are the acr values the gateway awards by itself: the login's,
// the possession-based ones, the password login's, every scope's, every
// OAuth provider's configured or mapped acr, and the defaults of each
// (whether or not that login is on).
func (cfg *Config) ownACRs() map[string]bool {
	own := map[string]bool{cfg.LoginACR: true, DefaultLoginACR: true, DefaultPasswordACR: true, DefaultOAuthACR: true}
	for _, v := range cfg.PossessionACR {
		own[v] = true
	}
	if cfg.Passwords != nil {
		own[cfg.Passwords.ACR] = true
	}
	for _, p := range cfg.Scopes {
		if p.ACR != "" {
			own[p.ACR] = true
		}
	}
	for _, p := range cfg.OAuth {
		if p.ACR != "" {
			own[p.ACR] = true
		}
		for _, to := range p.ACRMap {
			own[to] = true
		}
	}
	own[DefaultPasskeyACR] = true
	if cfg.Passkeys != nil {
		for _, v := range cfg.Passkeys.passkeyACRs() {
			own[v] = true
		}
	}
	return own
}

// validatePasskeyACR refuses an acr only a passkey earns wherever nothing
// can prove a passkey: a login by code, password or provider, a direct
// scope without a verify_passkey step. (A delegated scope's steps are the
// hook's answer: without a passkey step its step-up earns no acr.)
func (cfg *Config) validatePasskeyACR(steps *StepRegistry) error {
	if cfg.Passkeys == nil {
		return nil
	}
	why := " is an acr only a passkey earns"
	if cfg.isPasskeyACR(cfg.LoginACR) {
		return fmt.Errorf("login acr %q%s; a code login never does", cfg.LoginACR, why)
	}
	if p := cfg.Passwords; p != nil && cfg.isPasskeyACR(p.ACR) {
		return fmt.Errorf("password acr %q%s; a password never does", p.ACR, why)
	}
	for name, p := range cfg.OAuth {
		if cfg.isPasskeyACR(p.ACR) {
			return fmt.Errorf("oauth %s: acr %q%s; a provider's login never does", name, p.ACR, why)
		}
		for from, to := range p.ACRMap {
			if cfg.isPasskeyACR(to) {
				return fmt.Errorf("oauth %s: acr_map %q %q%s; a provider's login never does", name, from, to, why)
			}
		}
	}
	for name, p := range cfg.Scopes {
		if p.Direct == nil || !cfg.isPasskeyACR(p.ACR) {
			continue
		}
		if !hasPasskeyStep(p.Direct.decision().Steps) || !steps.Has(StepVerifyPasskey) {
			return fmt.Errorf("scope %s: acr %q%s and none of its steps is %s (a code never earns it)", name, p.ACR, why, StepVerifyPasskey)
		}
	}
	return nil
}
