package jwks

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jose"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

func TestSignerSignVerifyRoundTrip(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign("at+jwt", gwClaims("challenge_id", "chl_1"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.SplitCompact(tok)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.Header
	want := `{"alg":"ES256","kid":"` + s.KeyID() + `","typ":"at+jwt"}`
	if string(hdr) != want {
		t.Errorf("header = %s, want %s", hdr, want)
	}
	v, err := NewVerifier(VerifierOptions{
		Issuers: []Issuer{{Issuer: gwIssuer, Audiences: []string{audience1}, Keys: s.KeySource(), Types: []string{"at+jwt"}}},
		Now:     func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var extra struct {
		ChallengeID string `json:"challenge_id"`
	}
	if err := json.Unmarshal(c.Raw, &extra); err != nil || extra.ChallengeID != "chl_1" || c.Subject != "user-1" {
		t.Errorf("claims = %+v, extra %+v", c, extra)
	}
	// Another signer's key source does not verify it.
	other, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: other.KeySource(), Types: []string{"at+jwt"}}}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("other key: %v", err)
	}
}

func TestSignerPEMRoundTrip(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := s.PEM()
	if err != nil {
		t.Fatal(err)
	}
	sec1DER, err := x509.MarshalECPrivateKey(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1DER})
	for name, in := range map[string][]byte{"PKCS#8": pemBytes, "SEC 1": sec1} {
		t.Run(name, func(t *testing.T) {
			back, err := ParseSigner(in)
			if err != nil {
				t.Fatal(err)
			}
			if back.KeyID() != s.KeyID() || !bytes.Equal(back.PublicJWKS(), s.PublicJWKS()) {
				t.Error("parsed signer differs from the original")
			}
			if !bytes.Equal(back.DeriveSecret("x"), s.DeriveSecret("x")) {
				t.Error("DeriveSecret differs after PEM round trip")
			}
		})
	}
}

func TestParseSignerRefusesOtherKeys(t *testing.T) {
	p384 := mustECKey(t, elliptic.P384())
	der384, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(mustRSAKey(t, 2048))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"not PEM":    []byte("hello"),
		"P-384":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der384}),
		"RSA":        pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}),
		"public key": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}}),
		"corrupt":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseSigner(in); err == nil {
				t.Fatal("ParseSigner accepted it")
			}
		})
	}
}

func TestSignerPublicJWKSAndThumbprint(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(s.PublicJWKS(), &doc); err != nil || len(doc.Keys) != 1 {
		t.Fatalf("JWKS = %s (%v)", s.PublicJWKS(), err)
	}
	k := doc.Keys[0]
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["kid"] != s.KeyID() || k["alg"] != "ES256" || k["use"] != "sig" || k["d"] != nil {
		t.Errorf("JWK = %v", k)
	}
	// RFC 7638: SHA-256 over {"crv","kty","x","y"} in lexical order.
	canon := `{"crv":"P-256","kty":"EC","x":"` + k["x"].(string) + `","y":"` + k["y"].(string) + `"}`
	sum := sha256.Sum256([]byte(canon))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); s.KeyID() != want {
		t.Errorf("KeyID = %s, want %s", s.KeyID(), want)
	}
}

func TestSignDetachedVerifiesWithPublicJWKS(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"scope_requested":"transfer:write"}`)
	sigB64, err := s.SignDetached(body)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigB64)
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature %d bytes (%v), want 64 raw r||s", len(sig), err)
	}
	src, err := NewStatic(s.PublicJWKS())
	if err != nil {
		t.Fatal(err)
	}
	key, err := src.LookupKey(context.Background(), s.KeyID())
	if err != nil {
		t.Fatal(err)
	}
	if err := jwsbb.Verify(key.Public, "ES256", body, sig); err != nil {
		t.Fatalf("detached signature does not verify: %v", err)
	}
	// Also with the standard library alone, as a webhook receiver would.
	pub := key.Public.(*ecdsa.PublicKey)
	digest := sha256.Sum256(body)
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("crypto/ecdsa rejects the detached signature")
	}
	if err := jwsbb.Verify(key.Public, "ES256", append(body, ' '), sig); err == nil {
		t.Fatal("signature verified over a different body")
	}
}

func TestDeriveSecret(t *testing.T) {
	a, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	x1, x2, y := a.DeriveSecret("dpop-nonce"), a.DeriveSecret("dpop-nonce"), a.DeriveSecret("otp")
	if len(x1) != 32 || !bytes.Equal(x1, x2) {
		t.Fatalf("not stable or not 32 bytes: %d", len(x1))
	}
	if bytes.Equal(x1, y) {
		t.Error("different labels give the same secret")
	}
	if bytes.Equal(x1, b.DeriveSecret("dpop-nonce")) {
		t.Error("different keys give the same secret")
	}
	d, _ := a.priv.Bytes()
	if bytes.Equal(x1, d) {
		t.Error("derived secret is the private key itself")
	}
}
