package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// Code lengths accepted by NewCode (security.md: 6 by default, up to 8).
const (
	MinDigits = 6
	MaxDigits = 8
)

// NewCode returns a code of the given number of decimal digits, each
// uniform over 0-9: random bytes of 250 or more are rejected so that b%10
// has no bias.
func NewCode(digits int) (string, error) {
	if digits < MinDigits || digits > MaxDigits {
		return "", fmt.Errorf("otp: code length %d outside %d..%d", digits, MinDigits, MaxDigits)
	}
	code := make([]byte, 0, digits)
	buf := make([]byte, 2*digits)
	for len(code) < digits {
		rand.Read(buf) // never fails (crypto/rand panics otherwise)
		for _, b := range buf {
			if b >= 250 {
				continue
			}
			code = append(code, '0'+b%10)
			if len(code) == digits {
				break
			}
		}
	}
	return string(code), nil
}

// Digest is the only form in which a code is stored:
// HMAC-SHA256(key, scope || 0x00 || code). scope binds the code to its flow
// or challenge id, so a code issued for one challenge never matches another.
func Digest(key []byte, scope, code string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(scope))
	mac.Write([]byte{0})
	mac.Write([]byte(code))
	return mac.Sum(nil)
}

// Match reports in constant time whether code is the code digest was made
// from, for the same key and scope.
func Match(key []byte, scope, code string, digest []byte) bool {
	return hmac.Equal(Digest(key, scope, code), digest)
}
