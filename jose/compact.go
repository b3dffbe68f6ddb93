package jose

import (
	"encoding/base64"
	"errors"
	"strings"
)

// B64 decodes JWS segments: base64url without padding, canonical only.
// It skips CR and LF, as every encoding/base64 decoder does: SplitCompact
// refuses them before decoding.
var B64 = base64.RawURLEncoding.Strict()

// Refusals of a token's form. Each is a plain value so that callers map it
// to their own error without allocating.
var (
	ErrNotCompact = errors.New("jose: not a compact JWS with three non-empty parts")
	ErrBase64     = errors.New("jose: bad base64url")
)

// Compact is a compact JWS split and decoded.
type Compact struct {
	Header    []byte // the protected header's JSON
	Payload   []byte
	Signature []byte
	// SigningInput is "header.payload" as sent: what the signature covers.
	SigningInput string
}

// SplitCompact splits raw into its three non-empty segments and decodes
// them. JSON serialisation, JWE (five parts) and anything else are refused
// here, before any JSON is read.
func SplitCompact(raw string) (*Compact, error) {
	if strings.ContainsAny(raw, "\r\n") {
		// encoding/base64 would skip them: the token would verify with
		// bytes other parsers refuse.
		return nil, ErrBase64
	}
	i := strings.IndexByte(raw, '.')
	if i <= 0 {
		return nil, ErrNotCompact
	}
	j := strings.IndexByte(raw[i+1:], '.')
	if j <= 0 {
		return nil, ErrNotCompact
	}
	j += i + 1
	if j == len(raw)-1 || strings.IndexByte(raw[j+1:], '.') >= 0 {
		return nil, ErrNotCompact
	}
	c := &Compact{SigningInput: raw[:j]}
	var err error
	if c.Header, err = B64.DecodeString(raw[:i]); err != nil {
		return nil, ErrBase64
	}
	if c.Payload, err = B64.DecodeString(raw[i+1 : j]); err != nil {
		return nil, ErrBase64
	}
	if c.Signature, err = B64.DecodeString(raw[j+1:]); err != nil {
		return nil, ErrBase64
	}
	return c, nil
}
