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
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// testPSSSigner is one generated key for the package's tests (RSA key
// generation is slow).
var testPSSSigner = func() *PSSSigner {
	s, err := GeneratePSSSigner()
	if err != nil {
		panic(err)
	}
	return s
}()

// publishedRSAKey finds kid in a JWKS document the way a webhook receiver
// does, with jwx, and returns its RSA public key and its members.
func publishedRSAKey(t *testing.T, doc []byte, kid string) (*rsa.PublicKey, map[string]any) {
	t.Helper()
	set, err := jwk.Parse(doc)
	if err != nil {
		t.Fatalf("jwx cannot read the JWKS: %v", err)
	}
	key, ok := set.LookupKeyID(kid)
	if !ok {
		t.Fatalf("kid %s is not in %s", kid, doc)
	}
	var pub rsa.PublicKey
	if err := jwk.Export(key, &pub); err != nil {
		t.Fatalf("kid %s is not an RSA public key: %v", kid, err)
	}
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	for _, m := range parsed.Keys {
		if m["kid"] == kid {
			return &pub, m
		}
	}
	t.Fatalf("kid %s: no members", kid)
	return nil, nil
}

// TestPSSSignatureVerifiesWithThePublishedKey: a body signed by the PSS key
// verifies, with jwx and with crypto/rsa's strict salt length, against the
// key the JWKS publishes under the signature's kid; nothing else does.
func TestPSSSignatureVerifiesWithThePublishedKey(t *testing.T) {
	es, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	s := testPSSSigner
	doc, err := PublicJWKS(es, s)
	if err != nil {
		t.Fatal(err)
	}
	pub, members := publishedRSAKey(t, doc, s.KeyID())
	if members["alg"] != "PS256" || members["use"] != "sig" || members["kty"] != "RSA" {
		t.Errorf("published members %v, want kty RSA, alg PS256, use sig", members)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := members[private]; ok {
			t.Errorf("the JWKS publishes the private member %q", private)
		}
	}
	if pub.N.BitLen() != PSSKeyBits {
		t.Errorf("a generated key of %d bits", pub.N.BitLen())
	}

	body := []byte(`{"app_id":"app","events":[]}`)
	sig, err := s.SignDetached(body)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || strings.ContainsAny(sig, "+/=") {
		t.Fatalf("signature %q is not unpadded base64url: %v", sig, err)
	}
	if err := jwsbb.VerifyRSA(pub, body, raw, crypto.SHA256, true); err != nil {
		t.Errorf("jwx does not verify the PS256 signature: %v", err)
	}
	digest := sha256.Sum256(body)
	if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], raw, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Errorf("crypto/rsa with a salt as long as the hash: %v", err)
	}
	// A changed body, a PKCS#1 v1.5 reading of it, and the other key all fail.
	if err := jwsbb.VerifyRSA(pub, append(body, ' '), raw, crypto.SHA256, true); err == nil {
		t.Error("a signature verified another body")
	}
	if err := jwsbb.VerifyRSA(pub, body, raw, crypto.SHA256, false); err == nil {
		t.Error("a PSS signature verified as RS256")
	}
	other, err := GeneratePSSSigner()
	if err != nil {
		t.Fatal(err)
	}
	otherDoc, _ := PublicJWKS(other)
	otherPub, _ := publishedRSAKey(t, otherDoc, other.KeyID())
	if err := jwsbb.VerifyRSA(otherPub, body, raw, crypto.SHA256, true); err == nil {
		t.Error("another key verified the signature")
	}
	// Two signatures of one body differ (PSS is randomized) and both verify.
	again, _ := s.SignDetached(body)
	if again == sig {
		t.Error("PSS signatures of one body are equal: no random salt")
	}
}

// TestPublicJWKSKeepsBothKeysApart: the ES256 key keeps its own kid and alg
// beside the PS256 key; a missing PSS key (nil) is left out.
func TestPublicJWKSKeepsBothKeysApart(t *testing.T) {
	es, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	var none *PSSSigner
	alone, err := PublicJWKS(es, none)
	if err != nil {
		t.Fatal(err)
	}
	if string(alone) != string(es.PublicJWKS()) {
		t.Errorf("without a PSS key: %s, want the signer's own %s", alone, es.PublicJWKS())
	}
	both, _ := PublicJWKS(es, testPSSSigner)
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(both, &parsed); err != nil || len(parsed.Keys) != 2 {
		t.Fatalf("JWKS %s", both)
	}
	if parsed.Keys[0]["kid"] != es.KeyID() || parsed.Keys[0]["alg"] != "ES256" ||
		parsed.Keys[1]["kid"] != testPSSSigner.KeyID() || parsed.Keys[1]["alg"] != "PS256" || es.KeyID() == testPSSSigner.KeyID() {
		t.Errorf("keys %v", parsed.Keys)
	}
}

func TestPSSSignerPEMRoundTripAndRefusals(t *testing.T) {
	pemBytes, err := testPSSSigner.PEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePSSSigner(pemBytes)
	if err != nil || back.KeyID() != testPSSSigner.KeyID() {
		t.Fatalf("PKCS#8 round trip: %v", err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testPSSSigner.priv)})
	if back, err := ParsePSSSigner(pkcs1); err != nil || back.KeyID() != testPSSSigner.KeyID() {
		t.Fatalf("PKCS#1: %v", err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(small)
	es, _ := GenerateSigner()
	esPEM, _ := es.PEM()
	for name, in := range map[string][]byte{
		"1024 bits":         pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"an EC key":         esPEM,
		"no PEM":            []byte("not a key"),
		"a certificate":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"garbage in a PEM":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}),
		"a public key only": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	} {
		if _, err := ParsePSSSigner(in); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), string(der[:8])) {
			t.Errorf("%s: the error quotes key bytes", name)
		}
	}
}
