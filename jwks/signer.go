package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// Signer is the gateway's own ES256 (P-256) key: it signs the tokens the
// gateway mints and its webhook requests, publishes its public JWKS, and
// derives HMAC secrets that every instance sharing the key agrees on.
type Signer struct {
	priv   *ecdsa.PrivateKey
	kid    string
	pub    jwk.Key
	jwks   []byte
	source *Static
}

// GenerateSigner creates a new random P-256 key.
func GenerateSigner() (*Signer, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("jwks: generating signing key: %w", err)
	}
	return newSigner(priv)
}

// ParseSigner reads a PEM "PRIVATE KEY" (PKCS#8) or "EC PRIVATE KEY" (SEC 1)
// block holding a P-256 private key. Errors never include key bytes.
func ParseSigner(pemBytes []byte) (*Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("jwks: signing key: no PEM block")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("jwks: signing key: unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, errors.New("jwks: signing key: malformed private key")
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("jwks: signing key: not an EC P-256 key")
	}
	return newSigner(priv)
}

func newSigner(priv *ecdsa.PrivateKey) (*Signer, error) {
	pub, err := jwk.Import(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jwks: signing key: %w", err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("jwks: signing key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: "ES256", jwk.KeyUsageKey: "sig"} {
		if err := pub.Set(name, v); err != nil {
			return nil, fmt.Errorf("jwks: signing key: setting %s: %w", name, err)
		}
	}
	doc, err := json.Marshal(map[string]any{"keys": []jwk.Key{pub}})
	if err != nil {
		return nil, fmt.Errorf("jwks: signing key: encoding JWKS: %w", err)
	}
	return &Signer{
		priv: priv,
		kid:  kid,
		pub:  pub,
		jwks: doc,
		source: newStaticKeys(&VerificationKey{
			KeyID: kid, Algorithm: "ES256", Public: &priv.PublicKey,
		}),
	}, nil
}

// PEM returns the private key as a PKCS#8 PEM block, to persist it.
func (s *Signer) PEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.priv)
	if err != nil {
		return nil, fmt.Errorf("jwks: encoding signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// KeyID returns the key's RFC 7638 SHA-256 thumbprint, base64url: the kid of
// every token and webhook signature it makes.
func (s *Signer) KeyID() string { return s.kid }

// signHeader is the protected header of tokens the gateway mints.
type signHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// Sign returns a compact JWS over claims (marshalled with encoding/json),
// with header {alg: ES256, kid, typ}. typ "" omits the member.
func (s *Signer) Sign(typ string, claims any) (string, error) {
	hdr, err := json.Marshal(signHeader{Alg: "ES256", Kid: s.kid, Typ: typ})
	if err != nil {
		return "", fmt.Errorf("jwks: encoding header: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwks: encoding claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, enc.EncodedLen(len(hdr))+enc.EncodedLen(len(payload))+2+enc.EncodedLen(64))
	buf = enc.AppendEncode(buf, hdr)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := jwsbb.SignECDSA(s.priv, buf, crypto.SHA256, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("jwks: signing: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// SignDetached returns the base64url ES256 signature (raw r||s, 64 bytes)
// of payload, for webhook signatures verifiable with PublicJWKS.
func (s *Signer) SignDetached(payload []byte) (string, error) {
	sig, err := jwsbb.SignECDSA(s.priv, payload, crypto.SHA256, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("jwks: signing: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// PublicJWKS returns the public JWK Set document
// {"keys":[{kty,crv,x,y,kid,alg:"ES256",use:"sig"}]}. The caller must not
// modify the returned slice.
func (s *Signer) PublicJWKS() []byte { return s.jwks }

func (s *Signer) publicJWK() jwk.Key {
	if s == nil {
		return nil
	}
	return s.pub
}

// KeySource returns a static source holding this key's public half.
func (s *Signer) KeySource() KeySource { return s.source }

// DeriveSecret returns 32 bytes derived with HKDF-SHA256 from the private
// key and label: stable for one key and label, independent across labels,
// so instances sharing the signing key agree on HMAC keys (DPoP nonces, OTP
// codes) without a second secret.
func (s *Signer) DeriveSecret(label string) []byte {
	secret, err := s.priv.Bytes()
	if err != nil {
		// Unreachable for a P-256 key built by this package.
		panic("jwks: signing key cannot be encoded: " + err.Error())
	}
	out, err := hkdf.Key(sha256.New, secret, nil, "caddy-stepup jwks DeriveSecret v1: "+label, 32)
	if err != nil {
		panic("jwks: hkdf: " + err.Error())
	}
	return out
}
