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
	Subject   string // sub
	ID        string // jti
	SessionID string // sid
	Audience  []string
	// Scope is the RFC 9068 "scope" string split on spaces; compare its
	// entries exactly (case-sensitive).
	Scope []string
	// ScopeText is the "scope" claim as it was written.
	ScopeText string
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
		c.Scope = splitScope(s)
		c.ScopeText = s
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

// splitScope splits an RFC 6749 scope string on spaces, skipping empty
// tokens produced by repeated spaces.
func splitScope(s string) []string {
	if s == "" {
		return nil
	}
	out := make([]string, 0, strings.Count(s, " ")+1)
	for tok := range strings.SplitSeq(s, " ") {
		if tok != "" {
			out = append(out, tok)
		}
	}
	return out
}
