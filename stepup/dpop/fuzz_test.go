package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// FuzzVerify checks that Verify never panics and never accepts a proof whose
// signature does not verify, checked here independently of jwx with
// crypto/ecdsa (the default allow-list is ES256 only).
func FuzzVerify(f *testing.F) {
	key := newP256(f)
	f.Add(sdkProof(f, key, testJTI, "POST", testURL, testIat, ""), "POST", testURL)
	f.Add(sdkProof(f, key, testJTI, "POST", testURL, testIat, "nonce"), "POST", testURL)
	f.Add(sdkProof(f, key, "j", "GET", "https://example.com/x?y", testIat-30, ""), "GET", "https://example.com/x")
	f.Add("e30.e30.e30", "POST", testURL)
	f.Add("", "GET", "")

	v := Verifier{Now: fixedClock}
	f.Fuzz(func(t *testing.T, proof, method, url string) {
		p, err := v.Verify(proof, method, url)
		if err != nil {
			if p != nil {
				t.Fatal("proof returned with an error")
			}
			return
		}
		if !signatureVerifiesIndependently(proof) {
			t.Fatalf("accepted a proof without a valid ES256 signature: %q", proof)
		}
	})
}

func signatureVerifiesIndependently(proof string) bool {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return false
	}
	headerJSON, err := b64url.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
		JWK struct {
			Kty, Crv, X, Y string
		} `json:"jwk"`
	}
	if json.Unmarshal(headerJSON, &h) != nil || h.JWK.Kty != "EC" || h.JWK.Crv != "P-256" {
		return false
	}
	x, errX := b64url.DecodeString(h.JWK.X)
	y, errY := b64url.DecodeString(h.JWK.Y)
	sig, errS := b64url.DecodeString(parts[2])
	if errX != nil || errY != nil || errS != nil || len(sig) != 64 {
		return false
	}
	if len(x) != 32 || len(y) != 32 {
		return false
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}
