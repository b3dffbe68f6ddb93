package jwks

import (
	"encoding/json"
	"math"
	"strings"
	"time"
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

// maxNumericDate bounds NumericDate values so conversions cannot overflow
// (about year 36800).
const maxNumericDate = 1 << 40

// decodeClaims reads the registered claims from payload. Names are matched
// exactly because the payload is first decoded into a map: "Sub" or
// "SCOPE" are other claims, not these. A registered claim of the wrong JSON
// type (including null) makes the token invalid.
func decodeClaims(payload []byte) (*Claims, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return nil, errMalformedClaims
	}
	c := &Claims{Raw: payload}
	var err error
	if c.Issuer, err = stringMember(m, "iss"); err != nil {
		return nil, err
	}
	if c.Subject, err = stringMember(m, "sub"); err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errSubject
	}
	if c.ID, err = stringMember(m, "jti"); err != nil {
		return nil, err
	}
	if c.SessionID, err = stringMember(m, "sid"); err != nil {
		return nil, err
	}
	if raw, ok := m["aud"]; ok {
		if c.Audience, err = audience(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := m["scope"]; ok {
		var s string
		if !isJSONString(raw) || json.Unmarshal(raw, &s) != nil {
			return nil, errScopeNotString
		}
		if validScope(s) {
			c.Scope = splitScope(s)
			c.ScopeText = s
		}
	}
	if raw, ok := m["cnf"]; ok {
		if c.JKT, err = confirmation(raw); err != nil {
			return nil, err
		}
		c.Confirmed = true
	}
	raw, ok := m["exp"]
	if !ok {
		return nil, errExpMissing
	}
	if c.ExpiresAt, err = numericDate(raw); err != nil {
		return nil, err
	}
	if c.ExpiresAt.Unix() <= 0 {
		// jwx and others read exp 0 as "never expires"; we refuse it.
		return nil, errExpMissing
	}
	if raw, ok := m["nbf"]; ok {
		if c.NotBefore, err = numericDate(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := m["iat"]; ok {
		if c.IssuedAt, err = numericDate(raw); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// stringMember returns m[name] as a string, "" when absent, an error when
// present with another JSON type.
func stringMember(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", nil
	}
	var s string
	if !isJSONString(raw) || json.Unmarshal(raw, &s) != nil {
		return "", errClaimType
	}
	return s, nil
}

// isJSONString guards against null, which json.Unmarshal silently accepts
// for a string target.
func isJSONString(raw json.RawMessage) bool {
	return len(raw) >= 2 && raw[0] == '"'
}

// audience accepts the two RFC 7519 forms: a string or an array of strings.
func audience(raw json.RawMessage) ([]string, error) {
	if isJSONString(raw) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, errClaimType
		}
		return []string{s}, nil
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errClaimType
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, errClaimType
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		var s string
		if !isJSONString(item) || json.Unmarshal(item, &s) != nil {
			return nil, errClaimType
		}
		out = append(out, s)
	}
	return out, nil
}

// numericDate reads an RFC 7519 NumericDate: a non-negative JSON number of
// seconds, possibly fractional.
func numericDate(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || !(raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return time.Time{}, errClaimType
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, errClaimType
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
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
func confirmation(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return "", errClaimType
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "", errClaimType
	}
	jkt, err := stringMember(m, "jkt")
	if err != nil {
		return "", errClaimType
	}
	if _, present := m["jkt"]; present && jkt == "" {
		return "", errClaimType
	}
	return jkt, nil
}
