package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

const (
	testURL = "https://127.0.0.1:8443/v1/session/refresh"
	testIat = 1795630308
	testJTI = "67ea3ef7-1a80-485e-8d8b-ecdec557b935"
)

var testNow = time.Unix(testIat, 0)

func fixedClock() time.Time { return testNow }

// claims returns the SDK's payload as a map, with overrides applied and
// members set to nil removed.
func claims(overrides map[string]any) map[string]any {
	c := map[string]any{"jti": testJTI, "htm": "POST", "htu": testURL, "iat": testIat}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func header(alg string, jwk map[string]any, overrides map[string]any) map[string]any {
	h := map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwk}
	for k, v := range overrides {
		if v == nil {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return h
}

func withMember(m map[string]any, k string, v any) map[string]any {
	c := maps.Clone(m)
	c[k] = v
	return c
}

func TestVerify(t *testing.T) {
	key := newP256(t)
	other := newP256(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := ecJWK(&key.PublicKey)
	rsaJWK := map[string]any{"kty": "RSA", "n": b64url.EncodeToString(rsaKey.N.Bytes()), "e": "AQAB"}
	smallRSAJWK := map[string]any{"kty": "RSA", "n": b64url.EncodeToString(smallRSA.N.Bytes()), "e": "AQAB"}
	edJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(edPub)}
	secret := []byte("0123456789abcdef0123456789abcdef")
	octJWK := map[string]any{"kty": "oct", "k": b64url.EncodeToString(secret)}
	sdk := func(htm, htu string, iat int64) string {
		return sdkProof(t, key, testJTI, htm, htu, iat, "")
	}
	valid := sdk("POST", testURL, testIat)
	parts := strings.Split(valid, ".")
	sig, _ := b64url.DecodeString(parts[2])
	sig[5] ^= 0x01
	tampered := parts[0] + "." + parts[1] + "." + b64url.EncodeToString(sig)
	dupPayload := b64url.EncodeToString([]byte(`{"jti":"a","htm":"GET","htm":"POST","htu":"` + testURL + `","iat":` + "1795630308" + `}`))
	duplicateMember := signES(t, key, parts[0]+"."+dupPayload)

	tests := []struct {
		name     string
		proof    string
		method   string
		url      string
		verifier Verifier
		wantErr  error
	}{
		{name: "valid SDK proof", proof: valid},
		{name: "empty proof", proof: "", wantErr: ErrMissingProof},
		{name: "bad signature", proof: tampered, wantErr: ErrInvalidProof},
		{name: "signed by another key", proof: buildProof(t, other, header("ES256", jwk, nil), claims(nil)), wantErr: ErrInvalidProof},
		{name: "wrong htu host", proof: sdk("POST", "https://127.0.0.2:8443/v1/session/refresh", testIat), wantErr: ErrInvalidProof},
		{name: "wrong htu port", proof: sdk("POST", "https://127.0.0.1:8444/v1/session/refresh", testIat), wantErr: ErrInvalidProof},
		{name: "wrong htu path", proof: sdk("POST", "https://127.0.0.1:8443/v1/session/revoke", testIat), wantErr: ErrInvalidProof},
		{name: "wrong htu scheme", proof: sdk("POST", "http://127.0.0.1:8443/v1/session/refresh", testIat), wantErr: ErrInvalidProof},
		{name: "htu path with trailing slash", proof: sdk("POST", testURL+"/", testIat), wantErr: ErrInvalidProof},
		{name: "htu with encoded slash", proof: sdk("POST", "https://127.0.0.1:8443/v1/session%2Frefresh", testIat), wantErr: ErrInvalidProof},
		{name: "relative htu", proof: sdk("POST", "/v1/session/refresh", testIat), wantErr: ErrInvalidProof},
		{name: "htu with userinfo", proof: sdk("POST", "https://u@127.0.0.1:8443/v1/session/refresh", testIat), wantErr: ErrInvalidProof},
		{name: "query string and fragment in htu ignored", proof: sdk("POST", testURL+"?a=1#frag", testIat)},
		{name: "query string in request URL ignored", proof: valid, url: testURL + "?b=2"},
		{name: "default port and case normalised", proof: sdk("POST", "HTTPS://Example.COM:443/v1/%7euser", testIat), url: "https://example.com/v1/~user"},
		{name: "empty path is slash", proof: sdk("POST", "https://example.com", testIat), url: "https://example.com/"},
		{name: "wrong htm", proof: sdk("GET", testURL, testIat), wantErr: ErrInvalidProof},
		{name: "htm case differs", proof: sdk("post", testURL, testIat), wantErr: ErrInvalidProof},
		{name: "iat at max age", proof: sdk("POST", testURL, testIat-60)},
		{name: "old iat", proof: sdk("POST", testURL, testIat-61), wantErr: ErrInvalidProof},
		{name: "iat at max future", proof: sdk("POST", testURL, testIat+10)},
		{name: "future iat", proof: sdk("POST", testURL, testIat+11), wantErr: ErrInvalidProof},
		{name: "custom window", proof: sdk("POST", testURL, testIat-200), verifier: Verifier{MaxAge: 5 * time.Minute}},
		{name: "fractional iat", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"iat": float64(testIat) + 0.5}))},
		{name: "iat as string", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"iat": "1795630308"})), wantErr: ErrInvalidProof},
		{name: "iat missing", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"iat": nil})), wantErr: ErrInvalidProof},
		{name: "negative iat", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"iat": -1})), wantErr: ErrInvalidProof},
		{name: "missing jti", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"jti": nil})), wantErr: ErrInvalidProof},
		{name: "empty jti", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"jti": ""})), wantErr: ErrInvalidProof},
		{name: "numeric jti", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"jti": 7})), wantErr: ErrInvalidProof},
		{name: "jti of 256 chars", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"jti": strings.Repeat("j", 256)}))},
		{name: "jti of 257 chars", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"jti": strings.Repeat("j", 257)})), wantErr: ErrInvalidProof},
		{name: "claim name case differs", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"htm": nil, "HTM": "POST"})), wantErr: ErrInvalidProof},
		{name: "duplicate claim", proof: duplicateMember, wantErr: ErrInvalidProof},
		{name: "null nonce", proof: buildProof(t, key, header("ES256", jwk, nil), withMember(claims(nil), "nonce", nil)), wantErr: ErrInvalidProof},
		{name: "private key in jwk", proof: buildProof(t, key, header("ES256", withMember(jwk, "d", privateScalar(t, key)), nil), claims(nil)), wantErr: ErrInvalidProof},
		{name: "oct jwk with HS256", proof: buildProof(t, secret, header("HS256", octJWK, nil), claims(nil)), verifier: Verifier{Algorithms: []string{"HS256", "ES256"}}, wantErr: ErrInvalidProof},
		{name: "oct jwk with ES256", proof: buildProof(t, key, header("ES256", octJWK, nil), claims(nil)), wantErr: ErrInvalidProof},
		{name: "alg none", proof: buildProof(t, nil, header("none", jwk, nil), claims(nil)), verifier: Verifier{Algorithms: []string{"none"}}, wantErr: ErrInvalidProof},
		{name: "alg none with a signature", proof: buildProof(t, nil, header("none", jwk, nil), claims(nil)) + "c2ln", verifier: Verifier{Algorithms: []string{"none"}}, wantErr: ErrInvalidProof},
		{name: "HS256 with EC jwk", proof: buildProof(t, secret, header("HS256", jwk, nil), claims(nil)), verifier: Verifier{Algorithms: []string{"HS256"}}, wantErr: ErrInvalidProof},
		{name: "ES384 header with P-256 key", proof: buildProof(t, key, header("ES384", jwk, nil), claims(nil)), verifier: Verifier{Algorithms: []string{"ES256", "ES384"}}, wantErr: ErrInvalidProof},
		{name: "ES384 not allowed by default", proof: buildProof(t, p384, header("ES384", ecJWK(&p384.PublicKey), nil), claims(nil)), wantErr: ErrInvalidProof},
		{name: "ES384 allowed when listed", proof: buildProof(t, p384, header("ES384", ecJWK(&p384.PublicKey), nil), claims(nil)), verifier: Verifier{Algorithms: []string{"ES384"}}},
		{name: "RS256 allowed when listed", proof: buildProof(t, rsaKey, header("RS256", rsaJWK, nil), claims(nil)), verifier: Verifier{Algorithms: []string{"RS256"}}},
		{name: "RS256 not allowed by default", proof: buildProof(t, rsaKey, header("RS256", rsaJWK, nil), claims(nil)), wantErr: ErrInvalidProof},
		{name: "RSA key below 2048 bits", proof: buildProof(t, smallRSA, header("RS256", smallRSAJWK, nil), claims(nil)), verifier: Verifier{Algorithms: []string{"RS256"}}, wantErr: ErrInvalidProof},
		{name: "EdDSA allowed when listed", proof: buildProof(t, edKey, header("EdDSA", edJWK, nil), claims(nil)), verifier: Verifier{Algorithms: []string{"EdDSA"}}},
		{name: "typ JWT", proof: buildProof(t, key, header("ES256", jwk, map[string]any{"typ": "JWT"}), claims(nil)), wantErr: ErrInvalidProof},
		{name: "typ case differs", proof: buildProof(t, key, header("ES256", jwk, map[string]any{"typ": "DPoP+JWT"}), claims(nil)), wantErr: ErrInvalidProof},
		{name: "typ missing", proof: buildProof(t, key, header("ES256", jwk, map[string]any{"typ": nil}), claims(nil)), wantErr: ErrInvalidProof},
		{name: "jwk missing", proof: buildProof(t, key, header("ES256", jwk, map[string]any{"jwk": nil}), claims(nil)), wantErr: ErrInvalidProof},
		{name: "crit header", proof: buildProof(t, key, header("ES256", jwk, map[string]any{"crit": []string{"exp"}}), claims(nil)), wantErr: ErrInvalidProof},
		{name: "jku header", proof: buildProof(t, key, header("ES256", jwk, map[string]any{"jku": "https://evil.example/jwks"}), claims(nil)), wantErr: ErrInvalidProof},
		{name: "oversize", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"pad": strings.Repeat("p", MaxProofSize)})), wantErr: ErrInvalidProof},
		{name: "JSON serialisation", proof: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, wantErr: ErrInvalidProof},
		{name: "four parts", proof: valid + ".x", wantErr: ErrInvalidProof},
		{name: "two parts", proof: parts[0] + "." + parts[1], wantErr: ErrInvalidProof},
		{name: "padded header", proof: parts[0] + "=." + parts[1] + "." + parts[2], wantErr: ErrInvalidProof},
		{name: "ath string returned", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"ath": athOf("tok")}))},
		{name: "ath not a string", proof: buildProof(t, key, header("ES256", jwk, nil), claims(map[string]any{"ath": 1})), wantErr: ErrInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.verifier
			v.Now = fixedClock
			method, url := tt.method, tt.url
			if method == "" {
				method = "POST"
			}
			if url == "" {
				url = testURL
			}
			p, err := v.Verify(tt.proof, method, url)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || p != nil {
					t.Fatalf("Verify = %v, %v; want error %v", p, err, tt.wantErr)
				}
				t.Logf("rejected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.ID == "" || p.Thumbprint == "" || p.IssuedAt.IsZero() {
				t.Fatalf("incomplete proof %+v", p)
			}
		})
	}
}

func athOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64url.EncodeToString(sum[:])
}

func TestVerifyReturnsClaims(t *testing.T) {
	key := newP256(t)
	v := Verifier{Now: fixedClock}
	p, err := v.Verify(sdkProof(t, key, testJTI, "POST", testURL, testIat, "n-1"), "POST", testURL)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != testJTI || p.Nonce != "n-1" || !p.IssuedAt.Equal(testNow) || p.AccessTokenHash != "" {
		t.Fatalf("unexpected proof %+v", p)
	}
	if p.BoundTo("anything") {
		t.Fatal("a proof without ath must not be bound to a token")
	}
}

func TestProofBoundTo(t *testing.T) {
	key := newP256(t)
	v := Verifier{Now: fixedClock}
	proof := buildProof(t, key, header("ES256", ecJWK(&key.PublicKey), nil), claims(map[string]any{"ath": athOf("access-token")}))
	p, err := v.Verify(proof, "POST", testURL)
	if err != nil {
		t.Fatal(err)
	}
	if !p.BoundTo("access-token") {
		t.Fatal("ath of the token not recognised")
	}
	if p.BoundTo("other-token") {
		t.Fatal("ath matched another token")
	}
}

func TestVerifyErrorsDoNotLeakProof(t *testing.T) {
	key := newP256(t)
	v := Verifier{Now: fixedClock}
	proof := sdkProof(t, key, "secret-jti-value", "GET", testURL, testIat, "")
	_, err := v.Verify(proof, "POST", testURL)
	if err == nil {
		t.Fatal("want error")
	}
	if strings.Contains(err.Error(), "secret-jti-value") || strings.Contains(err.Error(), "GET") {
		t.Fatalf("error reveals proof contents: %v", err)
	}
}

func privateScalar(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	d, err := key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b64url.EncodeToString(d)
}
