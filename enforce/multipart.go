package enforce

import (
	"bytes"
	"regexp"
	"strings"
)

// A multipart body is read the one way every parser behind the gateway
// reads it, or refused. The parsers differ wherever RFC 2046 leaves room:
// PHP reads a part after the close delimiter and skips a preamble line by
// line, Rack ends a part at "--boundary" anywhere (not only at a line's
// start) and takes a part's head up to the first empty line after at least
// one line, so an empty head swallows the part's content; Go allows white
// space after a delimiter. So the body must be canonical:
//
//	--B CRLF part CRLF --B CRLF part ... CRLF --B-- [CRLF]
//
// with no preamble and no epilogue, the delimiter appearing nowhere else
// (not even inside a line), CRLF line ends only, and each part a non-empty
// block of header lines, an empty line, then its content (any bytes).

// partHeaders are the part header fields accepted, in lower case: what
// browsers, curl and the common HTTP client libraries send. Rack also reads
// names out of Content-ID; any other field could carry text Rack's
// header regexes match.
var partHeaders = map[string]bool{
	"content-disposition":       true,
	"content-type":              true,
	"content-id":                true,
	"content-transfer-encoding": true,
	"content-length":            true,
}

func inspectMultipart(m MediaType, body []byte) error {
	parts, err := readMultipart(m, body)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.carriesAccessToken() {
			return ErrSecondCredential
		}
	}
	return nil
}

// readMultipart reads the heads of a canonical multipart body.
func readMultipart(m MediaType, body []byte) ([]part, error) {
	delim := []byte("--" + m.Boundary)
	if m.Boundary == "" || !bytes.HasPrefix(body, delim) {
		return nil, ErrMalformedBody
	}
	formData := m.Subtype == "form-data"
	var parts []part
	pos := 0 // where the current delimiter starts
	for {
		rest := body[pos+len(delim):]
		if bytes.HasPrefix(rest, []byte("--")) {
			if tail := rest[2:]; len(tail) != 0 && string(tail) != "\r\n" {
				return nil, ErrMalformedBody
			}
			return parts, nil
		}
		if !bytes.HasPrefix(rest, []byte("\r\n")) {
			return nil, ErrMalformedBody
		}
		start := pos + len(delim) + 2
		i := bytes.Index(body[start:], delim)
		if i < 0 {
			return nil, ErrMalformedBody // no close delimiter
		}
		next := start + i
		if i < 2 || string(body[next-2:next]) != "\r\n" {
			return nil, ErrMalformedBody
		}
		p, err := readPart(body[start:next-2], formData)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
		pos = next
	}
}

// part is what a part's head says about it.
type part struct {
	disposition, name, filename       string
	hasName, hasFilename, hasExtended bool
	contentID                         string
}

// readPart reads one part's head, and nothing of its content.
func readPart(raw []byte, formData bool) (part, error) {
	var p part
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end <= 0 {
		return p, ErrMalformedBody // no head, or an empty one
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(raw[:end]), "\r\n") {
		name, value, ok := splitHeaderLine(line)
		if !ok {
			return p, ErrMalformedBody
		}
		key := strings.ToLower(name)
		if !partHeaders[key] || seen[key] {
			return p, ErrMalformedBody
		}
		seen[key] = true
		if err := p.read(key, value); err != nil {
			return p, err
		}
	}
	if formData && (!strings.EqualFold(p.disposition, "form-data") || !p.hasName) {
		return p, ErrMalformedBody // RFC 7578 §4.2: every part is form-data with a name
	}
	if p.hasExtended && !p.hasName {
		return p, ErrMalformedBody
	}
	return p, nil
}

// carriesAccessToken reports whether a parser may name the part
// access_token: by its name; without one, Rack takes the Content-ID, then
// the filename (percent-decoded).
func (p part) carriesAccessToken() bool {
	candidates := []string{p.name, p.contentID}
	if !p.hasName {
		candidates = append(candidates, p.filename)
	}
	for _, c := range candidates {
		if c != "" && IsAccessTokenParam(c) {
			return true
		}
	}
	return false
}

// read checks one header field of a part.
func (p *part) read(key, value string) error {
	switch key {
	case "content-disposition":
		return p.readDisposition(value)
	case "content-type":
		m, err := ParseContentType(value)
		if err != nil || m.IsMultipart() || !m.FormCharset() {
			return ErrMalformedBody // nested multipart is read by no parser the same way
		}
	case "content-id":
		p.contentID = value
	case "content-transfer-encoding":
		if !isToken(value) {
			return ErrMalformedBody
		}
	case "content-length":
		if strings.Trim(value, "0123456789") != "" {
			return ErrMalformedBody
		}
	}
	return nil
}

// readDisposition reads `type *( ";" OWS param )` where the only params are
// name and filename, each at most once, valued by a token without "'" (PHP
// reads 'x' as a quoted x) or a quoted string without backslash or ";"
// (Rack finds `; name=` inside a quoted filename), and an RFC 8187
// `filename*` (.NET's HttpClient adds one to every file), which names the
// file only, on a part that has a name (Rack would name a part without one
// by it). `name*` is refused: Go reads it, the others do not.
func (p *part) readDisposition(v string) error {
	typ, rest := cutToken(v)
	if typ == "" || strings.Contains(typ, "'") {
		return ErrMalformedBody
	}
	p.disposition = typ
	for rest != "" {
		if rest[0] != ';' {
			return ErrMalformedBody
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		name, after := cutToken(rest)
		if name == "" || !strings.HasPrefix(after, "=") {
			return ErrMalformedBody
		}
		value, quoted, after, ok := cutParamValue(after[1:])
		if strings.EqualFold(name, "filename*") {
			if !ok || quoted || p.hasExtended || !extValue.MatchString(value) {
				return ErrMalformedBody
			}
			p.hasExtended, rest = true, after
			continue
		}
		if !ok || strings.Contains(value, ";") || (!quoted && strings.Contains(value, "'")) {
			return ErrMalformedBody
		}
		switch strings.ToLower(name) {
		case "name":
			if p.hasName {
				return ErrMalformedBody
			}
			p.hasName, p.name = true, value
		case "filename":
			if p.hasFilename {
				return ErrMalformedBody
			}
			p.hasFilename, p.filename = true, value
		default:
			return ErrMalformedBody
		}
		rest = after
	}
	return nil
}

// extValue is RFC 8187's ext-value in UTF-8 or ISO-8859-1, with its two
// "'" (which PHP pairs as quotes when it splits the parameters).
var extValue = regexp.MustCompile("^(?i:utf-8|iso-8859-1)'[A-Za-z0-9-]*'(?:[A-Za-z0-9!#$&+.^_`|~-]|%[0-9A-Fa-f]{2})+$")

// splitHeaderLine reads `name ":" OWS value` with a token name (no space
// before the colon, no folded line) and a non-empty value of visible
// characters, spaces and non-ASCII bytes, with no trailing white space and
// no ":" or "\" (Rack matches "Content-Disposition:" and "Content-ID:"
// anywhere in a part's head, values included).
func splitHeaderLine(line string) (name, value string, ok bool) {
	name, rest := cutToken(line)
	if name == "" || !strings.HasPrefix(rest, ":") {
		return "", "", false
	}
	value = strings.TrimLeft(rest[1:], " \t")
	if value == "" || value[len(value)-1] == ' ' {
		return "", "", false
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == 0x7f || c == ':' || c == '\\' {
			return "", "", false
		}
	}
	return name, value, true
}
