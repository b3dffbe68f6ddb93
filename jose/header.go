package jose

import (
	"errors"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// Refusals of a protected header.
var (
	ErrMalformedHeader = errors.New("jose: header is not one strict JSON object")
	ErrAlg             = errors.New("jose: alg missing or not a string")
	ErrHeaderMember    = errors.New("jose: header member of the wrong type")
	ErrCrit            = errors.New("jose: crit present")
	ErrNotJWS          = errors.New("jose: JWE or unsupported JWS encoding")
	ErrNested          = errors.New("jose: nested token")
)

// Header is a protected header's members the gateway acts on. Key
// references (jwk, jku, x5u, x5c, x5t) are never followed: keys come only
// from configuration, or, for DPoP proofs, from the jwk member the proof
// is about (Members["jwk"]).
type Header struct {
	Alg    string
	Kid    string
	Typ    string
	HasTyp bool
	// Members is the whole header, read strictly, for callers that need
	// more (a DPoP proof's jwk).
	Members strictjson.Members
}

// ParseHeader reads a protected header. It refuses crit (the gateway
// understands no extension), JWE members (enc, zip), b64 other than true,
// and nested tokens (cty JWT).
func ParseHeader(decoded []byte) (*Header, error) {
	m, err := strictjson.ParseObject(decoded)
	if err != nil {
		return nil, ErrMalformedHeader
	}
	if _, ok := m["crit"]; ok {
		return nil, ErrCrit
	}
	if _, ok := m["enc"]; ok {
		return nil, ErrNotJWS
	}
	if _, ok := m["zip"]; ok {
		return nil, ErrNotJWS
	}
	if v, ok := m["b64"]; ok && v.Kind != strictjson.True {
		return nil, ErrNotJWS
	}
	h := &Header{Members: m}
	var present bool
	if h.Alg, present, err = String(m, "alg"); err != nil || !present || h.Alg == "" {
		return nil, ErrAlg
	}
	if h.Kid, _, err = String(m, "kid"); err != nil {
		return nil, ErrHeaderMember
	}
	if h.Typ, h.HasTyp, err = String(m, "typ"); err != nil {
		return nil, ErrHeaderMember
	}
	if cty, present, err := String(m, "cty"); err != nil || (present && MediaType(cty) == "jwt") {
		return nil, ErrNested
	}
	return h, nil
}

// MediaType lower-cases a typ or cty value and strips the optional
// "application/" prefix (RFC 7515 §4.1.9).
func MediaType(s string) string {
	return strings.TrimPrefix(strings.ToLower(s), "application/")
}
