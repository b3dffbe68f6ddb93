package enforce

import (
	"fmt"
	"net/http"
	"strings"
)

// DefaultStrippedHeaders are the identity headers that other auth proxies
// (oauth2-proxy, Authelia, Pomerium, mod_auth_*) set and legacy APIs trust:
// a client must never be able to set them. A trailing `*` matches a prefix.
var DefaultStrippedHeaders = []string{
	"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name", "X-Remote-User",
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username",
	"X-Forwarded-Groups", "X-Forwarded-Access-Token", "X-Auth-Request-*", "X-Auth-*",
}

// ReservedHeaderPrefix is the gateway's own header prefix: always stripped.
const ReservedHeaderPrefix = "X-Stepup-*"

// HeaderStripper removes client-sent identity headers. Names match
// case-insensitively and with "_" read as "-": CGI, PHP, WSGI and nginx
// (underscores_in_headers) hand `X_Auth_User` to the app as X-Auth-User.
type HeaderStripper struct {
	exact    []string // normalized names
	prefixes []string // normalized prefixes
}

// NewHeaderStripper builds a stripper for names and `prefix*` patterns.
func NewHeaderStripper(patterns []string) (*HeaderStripper, error) {
	s := &HeaderStripper{}
	for _, p := range patterns {
		prefix := strings.HasSuffix(p, "*")
		name := strings.TrimSuffix(p, "*")
		if name == "" || strings.ContainsAny(name, "* :\t\r\n") {
			return nil, fmt.Errorf("header %q: a header name, or a prefix followed by *", p)
		}
		name = normalizeHeaderName(name)
		if prefix {
			s.prefixes = append(s.prefixes, name)
		} else {
			s.exact = append(s.exact, name)
		}
	}
	return s, nil
}

// Strip deletes every matching header of h.
func (s *HeaderStripper) Strip(h http.Header) {
	for name := range h {
		if s.matches(name) {
			delete(h, name)
		}
	}
}

func (s *HeaderStripper) matches(name string) bool {
	for _, p := range s.prefixes {
		if len(name) >= len(p) && equalHeaderName(name[:len(p)], p) {
			return true
		}
	}
	for _, e := range s.exact {
		if len(name) == len(e) && equalHeaderName(name, e) {
			return true
		}
	}
	return false
}

// normalizeHeaderName lower-cases ASCII letters and reads "_" as "-".
func normalizeHeaderName(name string) string {
	b := []byte(name)
	for i, c := range b {
		b[i] = normalizeHeaderByte(c)
	}
	return string(b)
}

func normalizeHeaderByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_':
		return '-'
	}
	return c
}

// equalHeaderName compares name with an already normalized one, without
// allocating (it runs for every header of every request).
func equalHeaderName(name, normalized string) bool {
	for i := 0; i < len(name); i++ {
		if normalizeHeaderByte(name[i]) != normalized[i] {
			return false
		}
	}
	return true
}
