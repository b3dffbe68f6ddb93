package jwks

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/caddy-stepup/caddy-stepup/jose"
)

// PSSSigner is the gateway's RSA key for RSASSA-PSS SHA-256 signatures
// (PS256, RFC 7518 §3.5), the way Prelude signs its webhooks: it signs
// request bodies only, never a token. Its public half is published in the
// gateway's JWKS with its own kid and `alg: PS256`, so a receiver finds it
// by the kid a request names.
//
// A body it signs cannot pass for a JWS signing input (the
// base64url(header) "." base64url(payload) a JWS signature covers): every
// body the gateway sends is a JSON object, which starts with `{`, a byte
// base64url never holds.
type PSSSigner struct {
	priv *rsa.PrivateKey
	kid  string
	pub  jwk.Key
}

// PSSKeyBits is the size of a generated PSS key.
const PSSKeyBits = 2048

// maxPSSKeyBits bounds a configured key (signing time grows with the cube
// of its size).
const maxPSSKeyBits = 8192

// GeneratePSSSigner creates a new random RSA key of PSSKeyBits.
func GeneratePSSSigner() (*PSSSigner, error) {
	priv, err := rsa.GenerateKey(rand.Reader, PSSKeyBits)
	if err != nil {
		return nil, fmt.Errorf("jwks: generating RSA key: %w", err)
	}
	return newPSSSigner(priv)
}

// ParsePSSSigner reads a PEM "PRIVATE KEY" (PKCS#8) or "RSA PRIVATE KEY"
// (PKCS#1) block holding an RSA key of 2048 to 8192 bits. Errors never
// include key bytes.
func ParsePSSSigner(pemBytes []byte) (*PSSSigner, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("jwks: RSA key: no PEM block")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("jwks: RSA key: unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, errors.New("jwks: RSA key: malformed private key")
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("jwks: RSA key: not an RSA key")
	}
	if bits := priv.N.BitLen(); bits < jose.MinRSABits || bits > maxPSSKeyBits {
		return nil, fmt.Errorf("jwks: RSA key: %d bits, want %d to %d", bits, jose.MinRSABits, maxPSSKeyBits)
	}
	return newPSSSigner(priv)
}

func newPSSSigner(priv *rsa.PrivateKey) (*PSSSigner, error) {
	pub, err := jwk.Import(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jwks: RSA key: %w", err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("jwks: RSA key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: "PS256", jwk.KeyUsageKey: "sig"} {
		if err := pub.Set(name, v); err != nil {
			return nil, fmt.Errorf("jwks: RSA key: setting %s: %w", name, err)
		}
	}
	return &PSSSigner{priv: priv, kid: kid, pub: pub}, nil
}

// PEM returns the private key as a PKCS#8 PEM block, to persist it.
func (s *PSSSigner) PEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.priv)
	if err != nil {
		return nil, fmt.Errorf("jwks: encoding RSA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// KeyID returns the key's RFC 7638 SHA-256 thumbprint, base64url.
func (s *PSSSigner) KeyID() string { return s.kid }

// SignDetached returns the base64url RSASSA-PSS signature of payload:
// SHA-256, MGF1 with SHA-256, a salt as long as the hash (RFC 7518 §3.5),
// as long as the key's modulus.
func (s *PSSSigner) SignDetached(payload []byte) (string, error) {
	digest := sha256.Sum256(payload)
	sig, err := rsa.SignPSS(rand.Reader, s.priv, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", fmt.Errorf("jwks: signing: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

func (s *PSSSigner) publicJWK() jwk.Key {
	if s == nil {
		return nil
	}
	return s.pub
}

// Published is a key whose public half the gateway publishes: its Signer
// (ES256) and its PSSSigner (PS256).
type Published interface {
	publicJWK() jwk.Key
}

// PublicJWKS returns the JWK Set document publishing the public halves of
// keys, in that order (nil entries are skipped): each with its kid, alg
// and `use: sig`, never a private member.
func PublicJWKS(keys ...Published) ([]byte, error) {
	set := make([]jwk.Key, 0, len(keys))
	for _, k := range keys {
		if k == nil {
			continue
		}
		if pub := k.publicJWK(); pub != nil {
			set = append(set, pub)
		}
	}
	doc, err := json.Marshal(map[string]any{"keys": set})
	if err != nil {
		return nil, fmt.Errorf("jwks: encoding JWKS: %w", err)
	}
	return doc, nil
}
