package appconfig

import (
	"math"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/password"
)

// LoginConfig turns on login methods for the SDK.
type LoginConfig struct {
	// Identifier types accepted by OTP login (the SDK's startOTPLogin):
	// `phone_number`, `email_address`. Users are identified by the
	// identifier they verified; a user is created at their first login.
	// Default: none (OTP login off).
	OTP []string `json:"otp,omitempty"`

	// Password login and sign-up with an email address (the SDK's
	// loginWithPassword, signUpWithEmail, getPasswordCompliancy). A
	// sign-up proves its address with a code from the `otp` sender before
	// the password is stored. Default: off.
	Password *PasswordConfig `json:"password,omitempty"`

	// OpenID Connect providers, by the name the SDK uses
	// (initiateOAuthLogin({provider}): google, apple, microsoft, github,
	// okta, or any other). Default: none.
	OAuth map[string]*OAuthConfig `json:"oauth,omitempty"`
}

// OAuthConfig is one OpenID Connect provider the gateway logs users in
// with, as a confidential client using the authorization code flow with
// PKCE. Register {external_url}/v1/session/login/oauth/{name}/callback as
// its redirect URI at the provider.
type OAuthConfig struct {
	// The provider's issuer: discovery is read from
	// {issuer}/.well-known/openid-configuration at the first login. https,
	// or http on a loopback address. Required.
	Issuer string `json:"issuer,omitempty"`

	// The client the provider registered for the gateway. Required.
	ClientID string `json:"client_id,omitempty"`

	// Its secret; write it as {env.NAME}. Required unless the provider
	// registered the client as public.
	ClientSecret string `json:"client_secret,omitempty"`

	// Scopes asked for. Default: openid email phone profile.
	Scopes []string `json:"scopes,omitempty"`

	// The app URLs the browser may be sent back to after the login, with
	// the login ticket: the SDK's `redirectURI` must be one of them, byte
	// for byte (no normalisation: `https://app.example.com/cb` and
	// `https://app.example.com/cb/` are two URLs). https (http on loopback
	// only), no user info or fragment. Required: a URL nobody listed, even
	// on the gateway's own origin (a proxied legacy path), never receives
	// a ticket.
	RedirectURIs []string `json:"redirect_uris,omitempty"`

	// The acr of its logins' tokens. Default: the ID token's acr, unless
	// it is one the gateway awards itself (see acr_map), else
	// `urn:stepup:oauth`.
	ACR string `json:"acr,omitempty"`

	// The provider's acr values the gateway adopts as one of its own,
	// `<provider-acr> <acr>` in the Caddyfile. An ID token's acr equal to
	// one the gateway awards itself (login_acr, possession_acr, the
	// password login's acr, a scope's acr, another provider's acr or
	// mapped acr, and the defaults urn:stepup:otp, urn:stepup:pwd,
	// urn:stepup:oauth) is never taken as it is: only an entry here maps
	// it, and an unmapped one gives the login `acr` if set, else
	// `urn:stepup:oauth`. An entry comes before `acr`. possession_acr
	// still needs the ID token's amr to prove possession. Default: none.
	ACRMap map[string]string `json:"acr_map,omitempty"`

	// Trust the provider with the email address and phone number it says
	// are verified (email_verified, phone_number_verified): they count as
	// proven, as if the gateway had sent them a code. A code or password
	// login with such an address lands in the provider's user, and its
	// step-up codes go there. This trusts the provider with every account
	// whose address it vouches for: turn it on only for a provider that
	// verifies addresses itself and that you trust as much as your own
	// code login. An address another user holds already stays theirs.
	// Default: off; the provider's addresses are contact data only (never
	// a login, never a code's destination) until the gateway proves them
	// with a code.
	TrustVerifiedIdentifiers bool `json:"trust_verified_identifiers,omitempty"`
}

// PasswordConfig is the password policy (`/password/compliancy`) and how
// passwords are hashed.
type PasswordConfig struct {
	// Fewest characters (Unicode code points). Default: 15, NIST SP
	// 800-63B's minimum for a password used alone.
	MinLength int `json:"min_length,omitempty"`

	// Most characters. Default: 128 (NIST asks to allow at least 64).
	MaxLength int `json:"max_length,omitempty"`

	// Fewest upper-case letters, lower-case letters, digits and other
	// characters, counted as the SDK counts them (\p{Lu}, \p{Ll},
	// \p{Nd}, the rest). Default: 0 each (NIST advises against
	// composition rules).
	Uppercase int `json:"uppercase,omitempty"`
	Lowercase int `json:"lowercase,omitempty"`
	Numbers   int `json:"numbers,omitempty"`
	Symbols   int `json:"symbols,omitempty"`

	// argon2id's cost. Default: time 1, memory 46 MiB, threads 1 (OWASP's
	// first setting; about 50 ms on one core). Each hash holds its memory
	// while it runs.
	Argon2id *Argon2idConfig `json:"argon2id,omitempty"`

	// How many hashes run at once; more wait (up to 32 per hash running,
	// then 503). Default: as many as keep half of GOMAXPROCS busy (each
	// hash runs `threads` lanes), at least 1, so that a burst of logins
	// leaves the other cores to the requests the gateway verifies. Raise
	// it for login throughput on a host that does little else; at most
	// 256.
	ConcurrentHashes int `json:"concurrent_hashes,omitempty"`

	// The acr of a password login's tokens. Default: `urn:stepup:pwd`.
	ACR string `json:"acr,omitempty"`
}

// Argon2idConfig are argon2id's parameters (RFC 9106).
type Argon2idConfig struct {
	// Passes over memory. Default: 1.
	Time int `json:"time,omitempty"`
	// Memory per hash, in KiB. Default: 47104 (46 MiB).
	MemoryKiB int `json:"memory_kib,omitempty"`
	// Lanes. Default: 1.
	Threads int `json:"threads,omitempty"`
}

// passwordLogin is the engine's password settings for c.
func (c *PasswordConfig) passwordLogin() *stepup.PasswordLogin {
	p := &stepup.PasswordLogin{ACR: c.ACR, ConcurrentHashes: c.ConcurrentHashes, Policy: password.Policy{MinLength: c.MinLength, MaxLength: c.MaxLength,
		Uppercase: c.Uppercase, Lowercase: c.Lowercase, Numbers: c.Numbers, Symbols: c.Symbols}}
	if a := c.Argon2id; a != nil {
		// Out of their types' range, the costs stay out of the bounds the
		// engine checks: 257 threads is not 1.
		p.Params = password.Params{Time: uint32(min(max(a.Time, 0), math.MaxUint32)), MemoryKiB: uint32(min(max(a.MemoryKiB, 0), math.MaxUint32)),
			Threads: uint8(min(max(a.Threads, 0), math.MaxUint8))}
	}
	return p
}
