package dpop

import (
	"net"
	"net/url"
	"strings"
)

// normalizeHTU reduces an absolute http(s) URL to scheme://host[:port]/path
// for comparison (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2-6.2.3): query and
// fragment dropped, scheme and host lower-cased, default ports removed, an
// empty path read as "/", and percent-encoding normalised (unreserved
// characters decoded, hex digits upper-cased). It reports false for anything
// that is not an absolute http or https URL with a host and no userinfo.
func normalizeHTU(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", false
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	path, ok := normalizePercentEncoding(u.EscapedPath())
	if !ok {
		return "", false
	}
	if path == "" {
		path = "/"
	}
	return scheme + "://" + hostport + path, true
}

// normalizePercentEncoding decodes percent-encoded unreserved characters and
// upper-cases the hex digits of the others, so that equivalent paths compare
// equal while "%2F" stays distinct from "/".
func normalizePercentEncoding(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		c := unhex(s[i+1])<<4 | unhex(s[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(s[i+1 : i+3]))
		}
		i += 2
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
