package stepup

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// idBytes is the entropy of every identifier and secret: 128 bits.
const idBytes = 16

// idLen is the length of the base64url text of idBytes.
var idLen = base64.RawURLEncoding.EncodedLen(idBytes)

// newID returns prefix + 128 random bits, base64url.
func newID(prefix string) string {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		panic("stepup: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("stepup: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// validID checks an identifier's exact shape before any store call.
func validID(prefix, s string) bool {
	return strings.HasPrefix(s, prefix) && isBase64URL(s[len(prefix):], idLen)
}

// Identifier prefixes.
const (
	prefixUser      = "usr_"
	prefixSession   = "ses_"
	prefixFlow      = "vfy_"
	prefixChallenge = "chl_"
	prefixGrant     = "grt_"
	prefixToken     = "tok_"
	prefixTicket    = "lgn_"
)

// isBase64URL reports whether s is n characters of base64url.
func isBase64URL(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
