package enforce

import (
	"errors"
	"strings"
)

// ErrContentType: a Content-Type that is not exactly one well-formed media
// type with only the parameters the gateway accepts. Parsers disagree on
// everything else: PHP cuts the type at the first ";", "," or space and
// takes the first "boundary" substring anywhere in the header, Rack splits
// on ";" and ",", Go's mime refuses both, so a list, a stray word or an
// unknown parameter could make a form of a body the gateway did not read.
var ErrContentType = errors.New("enforce: Content-Type is not one well-formed media type with only charset and boundary parameters")

// MediaType is a Content-Type the gateway accepts.
type MediaType struct {
	Type, Subtype string // lower case
	Charset       string // as sent (without quotes); "" when absent
	Boundary      string // as sent (without quotes); multipart types only
}

// IsMultipart reports whether the type is multipart/* (Rack reads
// multipart/mixed and multipart/related bodies as forms too).
func (m MediaType) IsMultipart() bool { return m.Type == "multipart" }

// IsURLEncodedForm reports whether the type is application/x-www-form-urlencoded.
func (m MediaType) IsURLEncodedForm() bool {
	return m.Type == "application" && m.Subtype == "x-www-form-urlencoded"
}

// maxBoundary is RFC 2046 §5.1.1's longest boundary.
const maxBoundary = 70

// ParseContentType reads one Content-Type value by RFC 9110 §8.3.1 with
// stricter rules, so that every parser behind the gateway reads the same
// type and boundary from it:
//
//   - type "/" subtype, both tokens (compared in lower case);
//   - then only `;` OWS name=value parameters: no white space before `;`
//     or around `=` (PHP would keep a space in a boundary), no empty
//     parameter or trailing `;`, no list (`,`), nothing else;
//   - values are tokens or quoted strings without backslash escapes (PHP
//     and Rack do not unescape them, Go does);
//   - the only names are charset and boundary (any case), each at most once;
//   - charset is a token; boundary is 1 to 70 of RFC 2046's characters
//     other than "," and space (Rack stops a boundary at ",");
//   - multipart/* needs a boundary, other types take none; PHP must find
//     its name first (PHP takes the first "boundary" substring, wherever
//     it is, in lower case if there is one, else in any case), and Rack
//     must find "boundary=" only once (it refuses a second).
func ParseContentType(v string) (MediaType, error) {
	var m MediaType
	typ, rest := cutToken(v)
	if typ == "" || !strings.HasPrefix(rest, "/") {
		return m, ErrContentType
	}
	sub, rest := cutToken(rest[1:])
	if sub == "" {
		return m, ErrContentType
	}
	m.Type, m.Subtype = strings.ToLower(typ), strings.ToLower(sub)
	var haveCharset, haveBoundary bool
	boundaryAt := -1 // where the boundary parameter's name starts in v
	for rest != "" {
		if rest[0] != ';' {
			return m, ErrContentType
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		name, after := cutToken(rest)
		if name == "" || !strings.HasPrefix(after, "=") {
			return m, ErrContentType
		}
		value, quoted, after, ok := cutParamValue(after[1:])
		if !ok {
			return m, ErrContentType
		}
		switch strings.ToLower(name) {
		case "charset":
			if haveCharset || !isToken(value) {
				return m, ErrContentType
			}
			haveCharset, m.Charset = true, value
		case "boundary":
			if haveBoundary || !validBoundary(value, quoted) {
				return m, ErrContentType
			}
			haveBoundary, m.Boundary, boundaryAt = true, value, len(v)-len(rest)
		default:
			return m, ErrContentType
		}
		rest = after
	}
	if m.IsMultipart() != haveBoundary {
		return m, ErrContentType
	}
	if haveBoundary && (phpBoundaryName(v) != boundaryAt || strings.Count(strings.ToLower(v), "boundary=") != 1) {
		return m, ErrContentType
	}
	return m, nil
}

// phpBoundaryName is where PHP finds the boundary parameter: the first
// "boundary", or if there is none, the first in any case. (v is ASCII
// here, so lower-casing keeps the offsets.)
func phpBoundaryName(v string) int {
	if i := strings.Index(v, "boundary"); i >= 0 {
		return i
	}
	return strings.Index(strings.ToLower(v), "boundary")
}

// formCharsets are the charsets a form body (or a part of one) may name:
// ASCII-compatible ones, in which the bytes of "access_token" are the
// name whatever a parser decodes. A parser that decoded UTF-16 or UTF-7
// (where "+AF8-" is "_") would read names the gateway never saw.
var formCharsets = map[string]bool{"utf-8": true, "us-ascii": true, "iso-8859-1": true}

// FormCharset reports whether a form body's charset (or none) is one the
// gateway reads the same way as every parser.
func (m MediaType) FormCharset() bool {
	return m.Charset == "" || formCharsets[strings.ToLower(m.Charset)]
}

// cutToken splits s after its leading RFC 9110 token.
func cutToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && tchar[s[i]] {
		i++
	}
	return s[:i], s[i:]
}

func isToken(s string) bool {
	t, rest := cutToken(s)
	return t != "" && rest == ""
}

// cutParamValue reads a token or a quoted string (RFC 9110 §5.6.4) made of
// qdtext only: a backslash is refused rather than unescaped.
func cutParamValue(s string) (value string, quoted bool, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		value, rest = cutToken(s)
		return value, false, rest, value != ""
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[1:i], true, s[i+1:], i > 1
		case c == '\\' || (c < 0x20 && c != '\t') || c == 0x7f:
			return "", true, "", false
		}
	}
	return "", true, "", false
}

// validBoundary: 1 to 70 characters of RFC 2046's bcharsnospace other than
// "," (which Rack reads as the end of the boundary). Unquoted, it is also a
// token, which cutParamValue has checked.
func validBoundary(b string, quoted bool) bool {
	if b == "" || len(b) > maxBoundary {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !boundaryChar[b[i]] {
			return false
		}
	}
	return quoted || isToken(b)
}

// tchar marks RFC 9110's token characters.
var tchar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// boundaryChar marks RFC 2046's bcharsnospace without ",".
var boundaryChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "'()+_-./:=?" {
		t[c] = true
	}
	return t
}()
