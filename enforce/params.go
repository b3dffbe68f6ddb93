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

// paramReadings returns what the parsers behind the gateway may read from
// a parameter name as written in the request, each case-folded
// (strictjson.FoldKey): the name percent-decoded (also %uXXXX and "+"),
// repeatedly, until it stops changing, then
//
//   - PHP's reading: cut at the first NUL (PHP keeps names as C strings),
//     the part before a "[" that a "]" follows (an array: `name[]`,
//     `name[x]`), with " " and "." turned into "_"; a "[" with no "]" after
//     it is no array, and it and every " ", "." and "[" become "_"
//     (`access[token` is access_token);
//   - Rack's and qs's reading: leading "[" and "]" dropped, then cut at the
//     next "[" or "]" (`[access_token]` is access_token);
//
// both with surrounding white space, NULs and byte order marks trimmed. Compare results with
// ParamKey of the expected name.
func paramReadings(raw string) [2]string {
	name := raw
	for i := 0; i < maxDecodings; i++ {
		decoded := percentDecode(name)
		if decoded == name {
			break
		}
		name = decoded
	}
	return [2]string{foldTrimmed(phpReading(name)), foldTrimmed(bracketReading(name))}
}

func phpReading(name string) string {
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	name = strings.TrimLeft(name, " ")
	if i := strings.IndexByte(name, '['); i >= 0 && strings.IndexByte(name[i+1:], ']') >= 0 {
		name = name[:i]
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' || r == '[' {
			return '_'
		}
		return r
	}, name)
}

func bracketReading(name string) string {
	name = strings.TrimLeft(name, "[]")
	if i := strings.IndexAny(name, "[]"); i >= 0 {
		name = name[:i]
	}
	return name
}

// foldTrimmed trims white space, NULs and byte order marks (express
// decodes a form body with iconv-lite, which drops a leading U+FEFF), then
// case-folds.
func foldTrimmed(name string) string {
	return strictjson.FoldKey(strings.TrimFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r == 0 || r == '\ufeff' }))
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
	for _, n := range paramReadings(raw) {
		if n == accessTokenKey {
			return true
		}
	}
	return false
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
		for _, n := range paramReadings(name) {
			for _, k := range keys {
				if n == k {
					found = true
					return false
				}
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
