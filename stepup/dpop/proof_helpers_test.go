package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
)

var b64url = base64.RawURLEncoding

// ecJWK is the public JWK of an EC key with the SDK's member order.
func ecJWK(pub *ecdsa.PublicKey) map[string]any {
	point, err := pub.Bytes() // 0x04 || x || y
	if err != nil {
		panic(err)
	}
	size := (len(point) - 1) / 2
	return map[string]any{
		"kty": "EC",
		"crv": pub.Curve.Params().Name,
		"x":   b64url.EncodeToString(point[1 : 1+size]),
		"y":   b64url.EncodeToString(point[1+size:]),
	}
}

// sdkProof builds a proof byte for byte the way the SDK does (§6.2): the
// header and payload members in the SDK's order, ES256, raw r||s signature.
func sdkProof(t testing.TB, key *ecdsa.PrivateKey, jti, htm, htu string, iat int64, nonce string) string {
	t.Helper()
	jwk := ecJWK(&key.PublicKey)
	header := `{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":` + quote(jwk["x"].(string)) + `,"y":` + quote(jwk["y"].(string)) + `}}`
	payload := `{"jti":` + quote(jti) + `,"htm":` + quote(htm) + `,"htu":` + quote(htu) + `,"iat":` + big.NewInt(iat).String()
	if nonce != "" {
		payload += `,"nonce":` + quote(nonce)
	}
	payload += `}`
	return signES(t, key, b64url.EncodeToString([]byte(header))+"."+b64url.EncodeToString([]byte(payload)))
}

// buildProof marshals arbitrary header and payload and signs them with key,
// whatever the header says: the verifier must catch the lie.
func buildProof(t testing.TB, key any, header, payload map[string]any) string {
	t.Helper()
	input := b64url.EncodeToString(mustJSON(t, header)) + "." + b64url.EncodeToString(mustJSON(t, payload))
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return signES(t, k, input)
	case *rsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64url.EncodeToString(sig)
	case ed25519.PrivateKey:
		return input + "." + b64url.EncodeToString(ed25519.Sign(k, []byte(input)))
	case []byte: // HMAC secret
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(input))
		return input + "." + b64url.EncodeToString(mac.Sum(nil))
	case nil: // alg none
		return input + "."
	}
	t.Fatalf("unsupported key %T", key)
	return ""
}

func signES(t testing.TB, key *ecdsa.PrivateKey, input string) string {
	t.Helper()
	var digest []byte
	switch key.Curve {
	case elliptic.P256():
		s := sha256.Sum256([]byte(input))
		digest = s[:]
	case elliptic.P384():
		s := sha512.Sum384([]byte(input))
		digest = s[:]
	default:
		s := sha512.Sum512([]byte(input))
		digest = s[:]
	}
	r, s, err := ecdsa.Sign(rand.Reader, key, digest)
	if err != nil {
		t.Fatal(err)
	}
	size := (key.Curve.Params().BitSize + 7) / 8
	sig := append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	return input + "." + b64url.EncodeToString(sig)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
