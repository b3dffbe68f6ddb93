package jwks

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// MaxTokenBytes caps a token's length before any parsing.
const MaxTokenBytes = 8 << 10

// b64 decodes JWS segments: base64url without padding, canonical only.
var b64 = base64.RawURLEncoding.Strict()

// splitCompact splits a compact JWS into its three non-empty segments. JSON
// serialisation, JWE (five parts) and anything else are refused here,
// before any decoding.
func splitCompact(raw string) (header, payload, sig string, signingInputEnd int, err error) {
	i := strings.IndexByte(raw, '.')
	if i <= 0 {
		return "", "", "", 0, errNotCompact
	}
	j := strings.IndexByte(raw[i+1:], '.')
	if j <= 0 {
		return "", "", "", 0, errNotCompact
	}
	j += i + 1
	if j == len(raw)-1 || strings.IndexByte(raw[j+1:], '.') >= 0 {
		return "", "", "", 0, errNotCompact
	}
	return raw[:i], raw[i+1 : j], raw[j+1:], j, nil
}

// joseHeader is the part of a protected header the verifier acts on.
type joseHeader struct {
	alg, kid, typ string
	hasTyp        bool
}

// parseHeader decodes the protected header with exact member names. It
// refuses crit (the gateway understands no extension), JWE members (enc,
// zip), b64 other than true, and nested tokens (cty JWT). jwk, jku, x5u, x5c
// and x5t are ignored: keys come only from configuration, never from the
// token, so they are never read, let alone followed.
func parseHeader(decoded []byte) (joseHeader, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(decoded, &m); err != nil || m == nil {
		return joseHeader{}, errMalformedHeader
	}
	var h joseHeader
	if _, ok := m["crit"]; ok {
		return h, errCrit
	}
	if _, ok := m["enc"]; ok {
		return h, errNotJWS
	}
	if _, ok := m["zip"]; ok {
		return h, errNotJWS
	}
	if raw, ok := m["b64"]; ok && string(raw) != "true" {
		return h, errNotJWS
	}
	var err error
	if h.alg, err = stringMember(m, "alg"); err != nil || h.alg == "" {
		return h, errAlg
	}
	if h.kid, err = stringMember(m, "kid"); err != nil {
		return h, errKidType
	}
	if _, h.hasTyp = m["typ"]; h.hasTyp {
		if h.typ, err = stringMember(m, "typ"); err != nil {
			return h, errTyp
		}
	}
	if _, ok := m["cty"]; ok {
		cty, err := stringMember(m, "cty")
		if err != nil || normaliseMediaType(cty) == "jwt" {
			return h, errNested
		}
	}
	return h, nil
}

// normaliseMediaType lower-cases a typ/cty value and strips the optional
// "application/" prefix (RFC 7515 §4.1.9).
func normaliseMediaType(s string) string {
	s = strings.ToLower(s)
	return strings.TrimPrefix(s, "application/")
}
