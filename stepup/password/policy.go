package password

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Defaults of a policy: NIST SP 800-63B's minimum for a password used
// alone, and a maximum well above the 64 it asks to allow.
const (
	DefaultMinLength = 15
	DefaultMaxLength = 128
)

// Policy is what a new password must hold: the `/password/compliancy`
// document of the session API. MaxLength 0 means no bound but MaxBytes.
type Policy struct {
	MinLength int `json:"min_length"`
	MaxLength int `json:"max_length"`
	Uppercase int `json:"uppercase"`
	Lowercase int `json:"lowercase"`
	Numbers   int `json:"numbers"`
	Symbols   int `json:"symbols"`
}

// Validate checks the policy's own numbers.
func (p Policy) Validate() error {
	if p.MinLength < 1 || p.MaxLength < 0 || (p.MaxLength > 0 && p.MaxLength < p.MinLength) || p.MaxLength > MaxBytes/4 ||
		p.Uppercase < 0 || p.Lowercase < 0 || p.Numbers < 0 || p.Symbols < 0 {
		return fmt.Errorf("password policy: min_length at least 1, max_length 0 or from min_length to %d, counts not negative", MaxBytes/4)
	}
	if p.Uppercase+p.Lowercase+p.Numbers+p.Symbols > max(p.MaxLength, p.MinLength) && p.MaxLength > 0 {
		return fmt.Errorf("password policy: the required characters do not fit in max_length")
	}
	return nil
}

// Counts are a password's length and character classes, counted as
// @prelude.so/js-sdk's validatePassword counts them: code points; \p{Lu}
// upper case, \p{Ll} lower case, \p{Nd} digits, anything else a symbol.
type Counts struct {
	Length, Uppercase, Lowercase, Numbers, Symbols int
}

// Count classifies pw's code points; ok is false for invalid UTF-8.
func Count(pw string) (c Counts, ok bool) {
	if !utf8.ValidString(pw) {
		return c, false
	}
	for _, r := range pw {
		c.Length++
		switch {
		case unicode.Is(unicode.Lu, r):
			c.Uppercase++
		case unicode.Is(unicode.Ll, r):
			c.Lowercase++
		case unicode.Is(unicode.Nd, r):
			c.Numbers++
		default:
			c.Symbols++
		}
	}
	return c, true
}

// Allows reports whether pw meets the policy (and is valid UTF-8 of at
// most MaxBytes bytes, whatever the policy says).
func (p Policy) Allows(pw string) bool {
	if len(pw) > MaxBytes {
		return false
	}
	c, ok := Count(pw)
	return ok && c.Length >= p.MinLength && (p.MaxLength == 0 || c.Length <= p.MaxLength) &&
		c.Uppercase >= p.Uppercase && c.Lowercase >= p.Lowercase && c.Numbers >= p.Numbers && c.Symbols >= p.Symbols
}
