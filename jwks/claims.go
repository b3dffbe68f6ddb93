package jwks

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
)

// Claims are the registered claims of a verified token, read with exact,
// case-sensitive names.
type Claims struct {
	Issuer    string // iss
	Subject   string // sub: never empty (RFC 9068 §2.2)
	ID        string // jti
	SessionID string // sid
	Audience  []string
	// Scope is the RFC 9068 "scope" string split on spaces; compare its
	// entries exactly (case-sensitive). A scope claim that is not RFC 6749
	// §3.3 syntax grants nothing: Scope and ScopeText are then empty.
	Scope []string
	// ScopeText is the "scope" claim as it was written.
	ScopeText string
	// Confirmed reports a "cnf" claim (RFC 7800): the token is bound to a
	// key its holder must prove, so it is never accepted as a plain bearer
	// token.
	Confirmed bool
	// JKT is cnf.jkt (RFC 9449 §6.1), the RFC 7638 thumbprint of the DPoP
	// key the token is bound to; "" when cnf binds it some other way.
	JKT       string
	ExpiresAt time.Time
	IssuedAt  time.Time // zero when absent
	NotBefore time.Time // zero when absent
	// ACR is the authentication context class of the authentication event
	// behind the token (OpenID Connect acr; RFC 9470); "" when absent.
	ACR string
	// AMR lists the methods of that event (RFC 8176 values); nil when
	// absent.
	AMR []string
	// AuthTime is when that event happened (auth_time); zero when absent.
	AuthTime time.Time
	// Raw is the decoded payload JSON, for callers reading other claims
	// (challenge_id, grt, ...). Decode it with exact names too.
	Raw json.RawMessage
}

// HasScope reports whether the token grants scope (exact comparison).
func (c *Claims) HasScope(scope string) bool {
	for _, s := range c.Scope {
		if s == scope {
			return true
		}
	}
	return false
}

// decodeClaims reads the registered claims from payload with exact,
// case-sensitive names ("Sub" or "SCOPE" are other claims, not these), as
// one strict JSON object (jose, internal/strictjson: a duplicate claim is
// refused, never resolved). A registered claim of the wrong JSON type
// (null included) makes the token invalid.
func decodeClaims(payload []byte) (*Claims, error) {
	m, err := strictjson.ParseObject(payload)
	if err != nil {
		return nil, errMalformedClaims
	}
	c := &Claims{Raw: payload}
	for name, dst := range map[string]*string{"iss": &c.Issuer, "sub": &c.Subject, "jti": &c.ID, "sid": &c.SessionID} {
		if *dst, _, err = jose.String(m, name); err != nil {
			return nil, errClaimType
		}
	}
	if c.Subject == "" {
		return nil, errSubject
	}
	if c.Audience, _, err = jose.Strings(m, "aud"); err != nil {
		return nil, errClaimType
	}
	if s, present, err := jose.String(m, "scope"); err != nil {
		return nil, errScopeNotString
	} else if present && validScope(s) {
		c.Scope = splitScope(s)
		c.ScopeText = s
	}
	if v, ok := m["cnf"]; ok {
		if c.JKT, err = confirmation(v); err != nil {
			return nil, err
		}
		c.Confirmed = true
	}
	exp, present, err := jose.NumericDate(m, "exp")
	if err != nil {
		return nil, errClaimType
	}
	if !present || exp.Unix() <= 0 {
		// jwx and others read exp 0 as "never expires"; we refuse it.
		return nil, errExpMissing
	}
	c.ExpiresAt = exp
	if c.NotBefore, _, err = jose.NumericDate(m, "nbf"); err != nil {
		return nil, errClaimType
	}
	if c.IssuedAt, _, err = jose.NumericDate(m, "iat"); err != nil {
		return nil, errClaimType
	}
	// The authentication event: acr a string, amr an array of strings,
	// auth_time a NumericDate. A route may require them, so any other type
	// makes the token invalid rather than "without them".
	if c.ACR, _, err = jose.String(m, "acr"); err != nil {
		return nil, errClaimType
	}
	if c.AMR, _, err = jose.StringArray(m, "amr"); err != nil {
		return nil, errClaimType
	}
	if c.AuthTime, _, err = jose.NumericDate(m, "auth_time"); err != nil {
		return nil, errClaimType
	}
	return c, nil
}

// validScope reports whether s is RFC 6749 §3.3 syntax: scope tokens of
// %x21 / %x23-5B / %x5D-7E separated by single spaces, none leading or
// trailing. Anything else ("a  b", "a ", a tab, a quote, non-ASCII) is a
// claim two parsers may split differently, so it grants nothing.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	prevSpace := true // a leading space is refused like a doubled one
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		case c >= 0x21 && c <= 0x7e && c != '"' && c != '\\':
			prevSpace = false
		default:
			return false
		}
	}
	return !prevSpace
}

// splitScope splits a valid scope string on its single spaces.
func splitScope(s string) []string {
	return strings.Split(s, " ")
}

// confirmation reads a cnf claim: a JSON object whose jkt, when present,
// is a non-empty string. Other confirmation methods (x5t#S256 for mTLS)
// are kept as "confirmed, not by DPoP".
func confirmation(v strictjson.Value) (string, error) {
	if v.Kind != strictjson.Object {
		return "", errClaimType
	}
	m, err := strictjson.ParseObject(v.Raw)
	if err != nil {
		return "", errClaimType
	}
	jkt, present, err := jose.String(m, "jkt")
	if err != nil || (present && jkt == "") {
		return "", errClaimType
	}
	return jkt, nil
}
