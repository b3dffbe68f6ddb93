package enforce

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// accessTokenParam is RFC 6750 §2.2/§2.3's parameter name.
const accessTokenParam = "access_token"

// maxDecodings bounds how many times a name is percent-decoded: frameworks
// that decode twice (or a proxy, then the app) read %255F as "_".
const maxDecodings = 4

// NormalizeParamName reduces a form or query parameter name to what the
// most lenient parser behind the gateway would read: percent-decoded (also
// %uXXXX and "+"), repeatedly, until it stops changing; surrounding white
// space and NULs trimmed; an array suffix (`name[]`, `name[x]`, as PHP and
// Rails read it) cut off; spaces and dots turned into underscores (PHP's
// mangling); then case-folded (strictjson.FoldKey). Compare results with
// ParamKey of the expected name.
func NormalizeParamName(raw string) string {
	name := raw
	for i := 0; i < maxDecodings; i++ {
		decoded := percentDecode(name)
		if decoded == name {
			break
		}
		name = decoded
	}
	name = strings.TrimFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r == 0 })
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i]
	}
	name = strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' {
			return '_'
		}
		return r
	}, name)
	return strictjson.FoldKey(name)
}

// ParamKey is the normalized form of a name written in the configuration.
func ParamKey(name string) string { return strictjson.FoldKey(name) }

var accessTokenKey = ParamKey(accessTokenParam)

// IsAccessTokenParam reports whether a parameter name (as written in the
// request, still encoded) reads as access_token to some parser.
func IsAccessTokenParam(raw string) bool {
	// Every spelling of the 12-byte name is at least 12 bytes long: decoding
	// only shortens, and case variants outside ASCII are longer.
	if len(raw) < len(accessTokenParam) {
		return false
	}
	return NormalizeParamName(raw) == accessTokenKey
}

// QueryParamNames returns the names of an encoded query or form body, split
// on "&" and ";" (some frameworks still split on both).
func QueryParamNames(raw string, yield func(name string) bool) {
	for len(raw) > 0 {
		var pair string
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, ""
		}
		if i := strings.IndexByte(pair, '='); i >= 0 {
			pair = pair[:i]
		}
		if pair != "" && !yield(pair) {
			return
		}
	}
}

// HasParam reports whether an encoded query or form body has a parameter
// whose name normalizes to one of keys (made with ParamKey).
func HasParam(raw string, keys ...string) bool {
	found := false
	QueryParamNames(raw, func(name string) bool {
		n := NormalizeParamName(name)
		for _, k := range keys {
			if n == k {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// HasAccessToken reports whether an encoded query or form body carries an
// access_token parameter in any spelling.
func HasAccessToken(raw string) bool {
	found := false
	QueryParamNames(raw, func(name string) bool {
		found = IsAccessTokenParam(name)
		return !found
	})
	return found
}

// percentDecode decodes %XX, %uXXXX (IIS, old JavaScript escape()) and "+"
// once, leaving malformed escapes as they are.
func percentDecode(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') && i+5 < len(s):
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil && utf8.ValidRune(rune(n)) {
				b.WriteRune(rune(n))
				i += 5
				continue
			}
			b.WriteByte(c)
		case c == '%' && i+2 < len(s):
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
