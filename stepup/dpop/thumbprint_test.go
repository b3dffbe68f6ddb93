package dpop

import (
	"crypto/sha256"
	"testing"
)

// TestThumbprintRFC7638Example checks the RSA example of RFC 7638 §3.1.
func TestThumbprintRFC7638Example(t *testing.T) {
	const jwk = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	const want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	key, err := parsePublicKey([]byte(jwk), "RS256")
	if err != nil {
		t.Fatal(err)
	}
	if key.thumbprint != want {
		t.Fatalf("thumbprint %q, want %q", key.thumbprint, want)
	}
}

// TestThumbprintEC computes the P-256 thumbprint by hand with the RFC 7638
// member order (crv, kty, x, y) and compares it with what Verify returns.
func TestThumbprintEC(t *testing.T) {
	key := newP256(t)
	jwk := ecJWK(&key.PublicKey)
	canonical := `{"crv":"P-256","kty":"EC","x":"` + jwk["x"].(string) + `","y":"` + jwk["y"].(string) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	want := b64url.EncodeToString(sum[:])

	v := Verifier{Now: fixedClock}
	p, err := v.Verify(sdkProof(t, key, testJTI, "POST", testURL, testIat, ""), "POST", testURL)
	if err != nil {
		t.Fatal(err)
	}
	if p.Thumbprint != want {
		t.Fatalf("thumbprint %q, want %q", p.Thumbprint, want)
	}
}
