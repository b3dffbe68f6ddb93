package enforce

import (
	"strings"
)

// MaxTokenBytes caps the size of a token before any parsing.
const MaxTokenBytes = 8 << 10

// Scheme is the authentication scheme of a request.
type Scheme int

// Schemes the handler accepts.
const (
	Bearer Scheme = iota // RFC 6750
	DPoP                 // RFC 9449 §7
)

// Problem says why a request has no usable credential.
type Problem int

// Problems, from the request's Authorization header.
const (
	OK        Problem = iota
	Missing           // no credentials at all
	Malformed         // the request itself is malformed (invalid_request)
	Oversize          // a token too large to be valid
)

// Credential is the token of a request and the scheme it came with.
type Credential struct {
	Scheme Scheme
	Token  string
}

// ParseAuthorization reads the one Authorization header of a request
// (values are every line of it). Scheme names are case-insensitive.
// "Bearer" or "DPoP" with nothing after counts as no credentials: the SDK
// sends "Bearer " before login, and it means "log in", not "bad request".
func ParseAuthorization(values []string) (Credential, Problem) {
	switch len(values) {
	case 0:
		return Credential{}, Missing
	case 1:
	default:
		return Credential{}, Malformed
	}
	v := values[0]
	var c Credential
	var rest string
	switch {
	case hasPrefixFold(v, "bearer"):
		c.Scheme, rest = Bearer, v[len("bearer"):]
	case hasPrefixFold(v, "dpop"):
		c.Scheme, rest = DPoP, v[len("dpop"):]
	default:
		return Credential{}, Malformed
	}
	if strings.TrimSpace(rest) == "" {
		return c, Missing
	}
	if rest[0] != ' ' {
		return c, Malformed
	}
	token := rest[1:]
	if len(token) > MaxTokenBytes {
		return c, Oversize
	}
	if !isToken68(token) {
		return c, Malformed
	}
	c.Token = token
	return c, OK
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// token68Chars marks the bytes of RFC 7235's token68 before the padding:
// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/".
var token68Chars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~+/" {
		t[c] = true
	}
	return t
}()

// isToken68 reports whether s matches token68: 1*( token68 char ) *"=".
func isToken68(s string) bool {
	i := 0
	for i < len(s) && token68Chars[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
