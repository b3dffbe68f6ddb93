package dpop

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
)

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
	jws, err := jose.SplitCompact(proof)
	if err != nil {
		return nil, invalid("not a compact JWS")
	}
	header, err := jose.ParseHeader(jws.Header)
	if err != nil {
		return nil, invalid("header")
	}
	if !header.HasTyp || header.Typ != typ {
		return nil, invalid("typ")
	}
	if !v.allows(header.Alg) {
		return nil, invalid("alg not allowed")
	}
	// Extensions are not understood and keys are never fetched: refuse
	// instead of ignoring them (jose already refuses crit and b64 false).
	for _, name := range []string{"b64", "jku", "x5u", "x5c"} {
		if _, ok := header.Members[name]; ok {
			return nil, invalid("header member not allowed")
		}
	}
	rawJWK, ok := header.Members["jwk"]
	if !ok || rawJWK.Kind != strictjson.Object {
		return nil, invalid("no jwk")
	}
	key, err := cachedPublicKey(rawJWK.Raw, header.Alg)
	if err != nil {
		return nil, err
	}
	if err := jose.Verify(key.raw, header.Alg, []byte(jws.SigningInput), jws.Signature); err != nil {
		return nil, invalid("signature")
	}
	payloadJSON := jws.Payload
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
	claims, err := strictjson.ParseObject(payloadJSON)
	if err != nil {
		return nil, invalid("payload is not a JSON object")
	}
	jti, _, err := jose.String(claims, "jti")
	if err != nil || jti == "" || utf8.RuneCountInString(jti) > maxJTILength {
		return nil, invalid("jti")
	}
	htm, _, err := jose.String(claims, "htm")
	if err != nil || htm == "" || htm != method {
		return nil, invalid("htm")
	}
	htu, _, err := jose.String(claims, "htu")
	if err != nil {
		return nil, invalid("htu")
	}
	got, okGot := normalizeHTU(htu)
	want, okWant := normalizeHTU(url)
	if !okGot || !okWant || got != want {
		return nil, invalid("htu")
	}
	issuedAt, present, err := jose.NumericDate(claims, "iat")
	if err != nil || !present {
		return nil, invalid("iat")
	}
	now := v.now()
	if issuedAt.Before(now.Add(-v.maxAge())) || issuedAt.After(now.Add(v.maxFuture())) {
		return nil, invalid("iat outside window")
	}
	nonce, _, err := jose.String(claims, "nonce")
	if err != nil {
		return nil, invalid("nonce")
	}
	ath, present, err := jose.String(claims, "ath")
	if err != nil || (present && ath == "") {
		return nil, invalid("ath")
	}
	return &Proof{Thumbprint: thumbprint, ID: jti, IssuedAt: issuedAt, Nonce: nonce, AccessTokenHash: ath}, nil
}

func (v *Verifier) allows(alg string) bool {
	if !jose.Supported(alg) {
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
