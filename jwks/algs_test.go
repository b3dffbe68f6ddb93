package jwks

import (
	"context"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestVerifyEachAlgorithmFamily(t *testing.T) {
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := mustRSAKey(t, 2048)
	p384 := mustECKey(t, elliptic.P384())
	p521 := mustECKey(t, elliptic.P521())
	tests := []struct {
		alg  string
		priv any
		pub  any
	}{
		{"ES384", p384, &p384.PublicKey},
		{"ES512", p521, &p521.PublicKey},
		{"RS384", rsaKey, &rsaKey.PublicKey},
		{"PS512", rsaKey, &rsaKey.PublicKey},
		{"EdDSA", edPriv, edPub},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			src, err := NewStatic(jwksJSON(t, jwkJSON(t, tt.pub, map[string]any{"kid": "k"})))
			if err != nil {
				t.Fatal(err)
			}
			newV := func(algs ...string) *Verifier {
				v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: src, Algorithms: algs}}, Now: func() time.Time { return testNow }})
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			tok := forge(t, tt.alg, tt.priv, map[string]any{"alg": tt.alg, "kid": "k"}, gwClaims())
			if _, err := newV(tt.alg).Verify(context.Background(), tok); err != nil {
				t.Fatalf("allowed %s: %v", tt.alg, err)
			}
			// The same token is refused when its alg is not allowed.
			if _, err := newV("ES256").Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%s outside the allow-list: %v", tt.alg, err)
			}
		})
	}
}

func TestKeyAllowsAlg(t *testing.T) {
	p256 := &mustECKey(t, elliptic.P256()).PublicKey
	rsaPub := &mustRSAKey(t, 2048).PublicKey
	tests := []struct {
		name     string
		pub      any
		declared string
		alg      string
		want     bool
	}{
		{"P-256 inferred ES256", p256, "", "ES256", true},
		{"P-256 refuses ES384", p256, "", "ES384", false},
		{"P-256 refuses RS256", p256, "", "RS256", false},
		{"RSA inferred PS384", rsaPub, "", "PS384", true},
		{"RSA declared RS256 refuses RS512", rsaPub, "RS256", "RS512", false},
		{"RSA refuses HS256", rsaPub, "", "HS256", false},
		{"RSA refuses none", rsaPub, "", "none", false},
		{"unknown key type", []byte("secret"), "", "HS256", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &VerificationKey{Algorithm: tt.declared, Public: tt.pub}
			if got := k.allows(tt.alg); got != tt.want {
				t.Fatalf("allows = %v, want %v", got, tt.want)
			}
		})
	}
}
