package caddystepup

import (
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
	// while it runs; at most GOMAXPROCS run at once.
	Argon2id *Argon2idConfig `json:"argon2id,omitempty"`

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

// Password policy defaults.
const (
	defaultPasswordMinLength = 15
	defaultPasswordMaxLength = 128
)

// passwordLogin is the engine's password settings for c.
func (c *PasswordConfig) passwordLogin() *stepup.PasswordLogin {
	p := &stepup.PasswordLogin{ACR: c.ACR, Policy: password.Policy{MinLength: c.MinLength, MaxLength: c.MaxLength,
		Uppercase: c.Uppercase, Lowercase: c.Lowercase, Numbers: c.Numbers, Symbols: c.Symbols}}
	if a := c.Argon2id; a != nil {
		p.Params = password.Params{Time: uint32(a.Time), MemoryKiB: uint32(a.MemoryKiB), Threads: uint8(a.Threads)}
	}
	return p
}
