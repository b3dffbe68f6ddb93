package tests

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testIdP is an identity provider on the other side of the wire: it serves
// a JWKS (whose keys the test can rotate) and signs tokens, including
// deliberately broken ones, byte by byte.
type testIdP struct {
	srv    *httptest.Server
	issuer string
	hits   atomic.Int64
	mu     sync.Mutex
	keys   []*idpKey
	down   bool
}

type idpKey struct {
	kid string
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

func newIdP(t *testing.T, issuer string, keys ...*idpKey) *testIdP {
	t.Helper()
	idp := &testIdP{issuer: issuer, keys: keys}
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idp.hits.Add(1)
		idp.mu.Lock()
		defer idp.mu.Unlock()
		if idp.down {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwksJSON(idp.keys...))
	}))
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *testIdP) jwksURL() string { return idp.srv.URL + "/jwks.json" }

func (idp *testIdP) setKeys(keys ...*idpKey) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.keys = keys
}

func (idp *testIdP) setDown(down bool) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.down = down
}

func newECKey(t *testing.T, kid string) *idpKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &idpKey{kid: kid, ec: k}
}

func newRSAKey(t *testing.T, kid string) *idpKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &idpKey{kid: kid, rsa: k}
}

var b64 = base64.RawURLEncoding

func (k *idpKey) publicJWK() map[string]any {
	if k.ec != nil {
		return map[string]any{
			"kty": "EC", "crv": "P-256", "kid": k.kid, "alg": "ES256", "use": "sig",
			"x": b64.EncodeToString(pad32(k.ec.X)), "y": b64.EncodeToString(pad32(k.ec.Y)),
		}
	}
	return map[string]any{
		"kty": "RSA", "kid": k.kid, "alg": "RS256", "use": "sig",
		"n": b64.EncodeToString(k.rsa.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.rsa.E)).Bytes()),
	}
}

func pad32(n *big.Int) []byte {
	b := make([]byte, 32)
	return n.FillBytes(b)
}

func jwksJSON(keys ...*idpKey) []byte {
	list := []map[string]any{}
	for _, k := range keys {
		list = append(list, k.publicJWK())
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return b
}

// alg is the algorithm this key signs with.
func (k *idpKey) alg() string {
	if k.ec != nil {
		return "ES256"
	}
	return "RS256"
}

// sign makes a compact JWS over exactly the given header and claims, with
// this key's algorithm regardless of what the header says.
func (k *idpKey) sign(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	jws, err := k.signJWS(header, claims)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// signJWS is sign without t, for servers' goroutines: it returns its error.
func (k *idpKey) signJWS(header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	if k.ec != nil {
		r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest[:])
		if err != nil {
			return "", err
		}
		sig = append(pad32(r), pad32(s)...)
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest[:])
		if err != nil {
			return "", err
		}
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// token signs a well-formed access token, then applies the mutations.
func (k *idpKey) token(t *testing.T, issuer string, mutate func(header, claims map[string]any)) string {
	t.Helper()
	now := time.Now()
	header := map[string]any{"alg": k.alg(), "typ": "at+jwt", "kid": k.kid}
	claims := map[string]any{
		"iss": issuer, "sub": "usr_alice", "aud": "api", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(), "jti": "t1", "scope": "payments:write", "sid": "ses_1",
	}
	if mutate != nil {
		mutate(header, claims)
	}
	return k.sign(t, header, claims)
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(b)
}

// hs256WithPublicKey is the classic algorithm-confusion token: HMAC keyed
// with the RSA public key's PEM bytes.
func hs256WithPublicKey(t *testing.T, k *idpKey, issuer string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	now := time.Now()
	input := encodeSegment(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": k.kid}) + "." +
		encodeSegment(t, map[string]any{"iss": issuer, "sub": "usr_mallory", "aud": "api", "exp": now.Add(time.Hour).Unix(), "scope": "payments:write"})
	mac := hmac.New(sha256.New, pemKey)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}
