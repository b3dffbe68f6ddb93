package dpop

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// b64 decodes JWS segments: base64url without padding, canonical only.
var b64 = base64.RawURLEncoding.Strict()

// Defaults applied when the corresponding Verifier field is zero.
const (
	DefaultMaxAge    = 60 * time.Second
	DefaultMaxFuture = 10 * time.Second
	// maxJTILength bounds the jti so callers can store it as a key.
	maxJTILength = 256
	// typ is the only accepted proof type (RFC 9449 §4.2).
	typ = "dpop+jwt"
)

// DefaultAlgorithms is the allow-list used when Verifier.Algorithms is empty:
// ES256 is the only algorithm the SDK uses.
var DefaultAlgorithms = []string{"ES256"}

// Proof is what a verified proof tells the caller.
type Proof struct {
	// Thumbprint is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// base64url without padding (the "jkt" of RFC 9449 §6.1).
	Thumbprint string
	// ID is the proof's jti. Replay detection is the caller's job.
	ID string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// Nonce is the proof's nonce, empty when absent.
	Nonce string
	// AccessTokenHash is the proof's ath, empty when absent (the SDK never
	// sends one). See BoundTo.
	AccessTokenHash string
}

// BoundTo reports whether the proof's ath is the hash of accessToken
// (RFC 9449 §4.2: base64url SHA-256 of the token's ASCII). A proof without
// ath is bound to no token.
func (p *Proof) BoundTo(accessToken string) bool {
	if p.AccessTokenHash == "" {
		return false
	}
	sum := sha256.Sum256([]byte(accessToken))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(p.AccessTokenHash)) == 1
}

// Verifier checks DPoP proofs. The zero value is ready to use with the
// defaults; a Verifier is safe for concurrent use once configured.
type Verifier struct {
	// Algorithms is the allow-list of proof algorithms. Default ["ES256"].
	// Only asymmetric algorithms are honoured (ES256/384/512, RS256/384/512,
	// PS256/384/512, EdDSA); other names are ignored, never trusted.
	Algorithms []string
	// MaxAge is how old iat may be. Default 60s.
	MaxAge time.Duration
	// MaxFuture is how far ahead of the clock iat may be. Default 10s.
	MaxFuture time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verify checks one proof for a request with the given method and external
// URL (the URL the client used: scheme, host, port and path; query and
// fragment of both the proof's htu and url are ignored, default ports and
// case of scheme and host are normalised).
//
// It returns ErrMissingProof for an empty proof and an error wrapping
// ErrInvalidProof for anything else wrong. A nonce in the proof is returned,
// not checked: use VerifyWithNonce where a nonce is required.
func (v *Verifier) Verify(proof, method, url string) (*Proof, error) {
	if proof == "" {
		return nil, ErrMissingProof
	}
	if len(proof) > MaxProofSize {
		return nil, invalid("proof too large")
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, invalid("not a compact JWS")
	}
	headerJSON, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, invalid("header encoding")
	}
	header, err := parseObject(headerJSON)
	if err != nil {
		return nil, invalid("header is not a JSON object")
	}
	if t, _, err := header.str("typ"); err != nil || t != typ {
		return nil, invalid("typ")
	}
	alg, _, err := header.str("alg")
	if err != nil || !v.allows(alg) {
		return nil, invalid("alg not allowed")
	}
	// Extensions are not understood and keys are never fetched: refuse
	// instead of ignoring them.
	for _, name := range []string{"crit", "b64", "jku", "x5u", "x5c"} {
		if header.has(name) {
			return nil, invalid("header member not allowed")
		}
	}
	rawJWK, ok := header.raw("jwk")
	if !ok {
		return nil, invalid("no jwk")
	}
	key, err := cachedPublicKey(rawJWK, alg)
	if err != nil {
		return nil, err
	}
	// The header is parsed and checked above; verify the signature over the
	// signing input directly (jwsbb checks ECDSA signature sizes, Go's crypto
	// the ranges) and decode the payload only once it is authentic.
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, invalid("signature encoding")
	}
	if err := jwsbb.Verify(key.raw, alg, []byte(proof[:len(parts[0])+1+len(parts[1])]), sig); err != nil {
		return nil, invalid("signature")
	}
	payloadJSON, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, invalid("payload encoding")
	}
	return v.checkClaims(payloadJSON, method, url, key.thumbprint)
}

// VerifyWithNonce is Verify for endpoints that demand a server nonce: a
// proof that is valid in every other way but carries no nonce, or one that
// nonces does not accept, gives ErrNonceRequired. A nil nonces accepts no
// nonce.
func (v *Verifier) VerifyWithNonce(proof, method, url string, nonces *Nonces) (*Proof, error) {
	p, err := v.Verify(proof, method, url)
	if err != nil {
		return nil, err
	}
	if p.Nonce == "" || !nonces.Valid(p.Nonce) {
		return nil, ErrNonceRequired
	}
	return p, nil
}

// checkClaims decodes the verified payload with exact member names.
func (v *Verifier) checkClaims(payloadJSON []byte, method, url, thumbprint string) (*Proof, error) {
	claims, err := parseObject(payloadJSON)
	if err != nil {
		return nil, invalid("payload is not a JSON object")
	}
	jti, _, err := claims.str("jti")
	if err != nil || jti == "" || utf8.RuneCountInString(jti) > maxJTILength {
		return nil, invalid("jti")
	}
	htm, _, err := claims.str("htm")
	if err != nil || htm == "" || htm != method {
		return nil, invalid("htm")
	}
	htu, _, err := claims.str("htu")
	if err != nil {
		return nil, invalid("htu")
	}
	got, okGot := normalizeHTU(htu)
	want, okWant := normalizeHTU(url)
	if !okGot || !okWant || got != want {
		return nil, invalid("htu")
	}
	iat, present, err := claims.number("iat")
	if err != nil || !present {
		return nil, invalid("iat")
	}
	issuedAt, ok := numericDate(iat)
	if !ok {
		return nil, invalid("iat")
	}
	now := v.now()
	if issuedAt.Before(now.Add(-v.maxAge())) || issuedAt.After(now.Add(v.maxFuture())) {
		return nil, invalid("iat outside window")
	}
	nonce, _, err := claims.str("nonce")
	if err != nil {
		return nil, invalid("nonce")
	}
	ath, present, err := claims.str("ath")
	if err != nil || (present && ath == "") {
		return nil, invalid("ath")
	}
	return &Proof{Thumbprint: thumbprint, ID: jti, IssuedAt: issuedAt, Nonce: nonce, AccessTokenHash: ath}, nil
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional).
func numericDate(seconds float64) (time.Time, bool) {
	// Past year 5000 is garbage, and keeps the conversion far from overflow.
	if math.IsNaN(seconds) || seconds < 0 || seconds > 95617584000 {
		return time.Time{}, false
	}
	whole, frac := math.Modf(seconds)
	return time.Unix(int64(whole), int64(frac*1e9)), true
}

func (v *Verifier) allows(alg string) bool {
	if !supportedAlgorithms[alg] {
		return false
	}
	algs := v.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	return slices.Contains(algs, alg)
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxAge() time.Duration {
	if v.MaxAge > 0 {
		return v.MaxAge
	}
	return DefaultMaxAge
}

func (v *Verifier) maxFuture() time.Duration {
	if v.MaxFuture > 0 {
		return v.MaxFuture
	}
	return DefaultMaxFuture
}
