package signals

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const (
	testIssuer   = "https://idp.example.com/"
	testAudience = "https://api.example.com/ssf"
)

// testKey is a transmitter's signing key and its public JWK.
type testKey struct {
	kid string
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

func newECKey(t testing.TB, kid string) *testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, ec: k}
}

func newRSAKey(t testing.TB, kid string) *testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, rsa: k}
}

func (k *testKey) jwk() map[string]any {
	if k.ec != nil {
		return map[string]any{"kty": "EC", "crv": "P-256", "kid": k.kid,
			"x": jose.B64.EncodeToString(k.ec.X.FillBytes(make([]byte, 32))),
			"y": jose.B64.EncodeToString(k.ec.Y.FillBytes(make([]byte, 32)))}
	}
	return map[string]any{"kty": "RSA", "kid": k.kid, "n": jose.B64.EncodeToString(k.rsa.N.Bytes()), "e": "AQAB"}
}

// keySource is a static JWKS of keys.
func keySource(t testing.TB, keys ...*testKey) jwks.KeySource {
	t.Helper()
	var list []any
	for _, k := range keys {
		list = append(list, k.jwk())
	}
	doc, _ := json.Marshal(map[string]any{"keys": list})
	s, err := jwks.NewStatic(doc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRaw signs header and payload as written (so tests can send
// duplicate members and other shapes json.Marshal never writes).
func (k *testKey) signRaw(header, payload string) string {
	input := jose.B64.EncodeToString([]byte(header)) + "." + jose.B64.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	if k.ec != nil {
		r, s, _ := ecdsa.Sign(rand.Reader, k.ec, sum[:])
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	} else {
		sig, _ = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, sum[:])
	}
	return input + "." + jose.B64.EncodeToString(sig)
}

func (k *testKey) alg() string {
	if k.ec != nil {
		return "ES256"
	}
	return "RS256"
}

// sign signs claims with the SET header.
func (k *testKey) sign(claims map[string]any) string {
	header := fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"secevent+jwt"}`, k.alg(), k.kid)
	payload, _ := json.Marshal(claims)
	return k.signRaw(header, string(payload))
}

var jtiCounter int

// claims is a valid SET's claims for event with payload, about subject.
func claims(event string, payload map[string]any, subject map[string]any) map[string]any {
	jtiCounter++
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "iat": time.Now().Unix(),
		"jti":    fmt.Sprintf("set-%d-%d", time.Now().UnixNano(), jtiCounter),
		"sub_id": subject, "events": map[string]any{event: payload},
	}
}

func emailSubject(email string) map[string]any {
	return map[string]any{"format": "email", "email": email}
}

// newTestReceiver is a receiver of one transmitter with keys, on st.
func newTestReceiver(t testing.TB, st store.Store, keys jwks.KeySource, edit ...func(*Transmitter)) *Receiver {
	t.Helper()
	tr := Transmitter{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: keys, Algorithms: []string{"ES256", "RS256"}}
	for _, e := range edit {
		e(&tr)
	}
	r, err := NewReceiver(ReceiverOptions{Transmitters: []Transmitter{tr}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func push(body string) Delivery {
	return Delivery{ContentType: MediaType, Body: []byte(body)}
}

// keysStore counts the keys written through it and not deleted since.
type keysStore struct {
	store.Store
	live map[string]bool
}

func newKeysStore() *keysStore { return &keysStore{Store: store.NewMemory(), live: map[string]bool{}} }

func (s *keysStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := s.Store.Create(ctx, key, value, ttl)
	if err == nil {
		s.live[key] = true
	}
	return err
}

func (s *keysStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := s.Store.Set(ctx, key, value, ttl)
	if err == nil {
		s.live[key] = true
	}
	return err
}

func (s *keysStore) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		delete(s.live, k)
	}
	return s.Store.Delete(ctx, keys...)
}

func (s *keysStore) Len() int { return len(s.live) }

// parseTop reads raw as the value of a member.
func parseTop(raw string) (strictjson.Value, error) {
	m, err := strictjson.ParseObject([]byte(`{"v":` + raw + `}`))
	return m["v"], err
}

func longString(n int) string { return strings.Repeat("x", n) }
