package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   error
	}{
		{`{"alg":"ES256","kid":"k","typ":"at+jwt"}`, nil},
		{`{"alg":"ES256","b64":true}`, nil},
		{`{"alg":"ES256","cty":"text/plain"}`, nil},
		{`{"alg":"ES256","jku":"https://evil.example/jwks","x5u":"https://evil.example"}`, nil},
		{`{"alg":"ES256","crit":["exp"],"exp":1}`, ErrCrit},
		{`{"alg":"ES256","crit":[]}`, ErrCrit},
		{`{"alg":"RSA-OAEP","enc":"A256GCM"}`, ErrNotJWS},
		{`{"alg":"ES256","zip":"DEF"}`, ErrNotJWS},
		{`{"alg":"ES256","b64":false}`, ErrNotJWS},
		{`{"alg":"ES256","b64":"true"}`, ErrNotJWS},
		{`{"alg":"ES256","cty":"JWT"}`, ErrNested},
		{`{"alg":"ES256","cty":"application/jwt"}`, ErrNested},
		{`{"alg":"ES256","cty":1}`, ErrNested},
		{`{"kid":"k"}`, ErrAlg},
		{`{"alg":""}`, ErrAlg},
		{`{"alg":null}`, ErrAlg},
		{`{"alg":["ES256"]}`, ErrAlg},
		{`{"alg":"ES256","kid":5}`, ErrHeaderMember},
		{`{"alg":"ES256","typ":null}`, ErrHeaderMember},
		{`{"alg":"ES256","alg":"none"}`, ErrMalformedHeader},
		{`{"alg":"ES256","ALG":"none"}`, ErrMalformedHeader},
		{`{"alg":"ES256","Kid":"a","kid":"b"}`, ErrMalformedHeader},
		{`["alg"]`, ErrMalformedHeader},
		{`{"alg":"ES256"} `, nil},
		{`{"alg":"ES256"}x`, ErrMalformedHeader},
	} {
		h, err := ParseHeader([]byte(tc.header))
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.header, err, tc.want)
		}
		if err == nil && h.Alg != "ES256" {
			t.Errorf("%s: alg %q", tc.header, h.Alg)
		}
	}
	h, err := ParseHeader([]byte(`{"alg":"ES256","kid":"k","typ":"Application/AT+JWT"}`))
	if err != nil || h.Kid != "k" || !h.HasTyp || MediaType(h.Typ) != "at+jwt" {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestNumericDateAndStrings(t *testing.T) {
	m, err := strictjson.ParseObject([]byte(`{"a":1700000000,"b":1700000000.5,"c":-1,"d":"1700000000","e":null,"f":1e400,"g":1e13,
		"s":"x","l":["x","y"],"n":[1],"o":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := NumericDate(m, "a"); err != nil || !ok || v.Unix() != 1700000000 {
		t.Errorf("a: %v %v %v", v, ok, err)
	}
	if v, _, err := NumericDate(m, "b"); err != nil || v.UnixMilli() != 1700000000500 {
		t.Errorf("b: %v %v", v, err)
	}
	for _, name := range []string{"c", "d", "e", "f", "g", "s"} {
		if _, ok, err := NumericDate(m, name); !ok || !errors.Is(err, ErrMemberType) {
			t.Errorf("NumericDate %s: %v", name, err)
		}
	}
	if _, ok, err := NumericDate(m, "absent"); ok || err != nil {
		t.Errorf("absent: %v %v", ok, err)
	}
	if l, _, err := Strings(m, "s"); err != nil || len(l) != 1 || l[0] != "x" {
		t.Errorf("Strings s: %v %v", l, err)
	}
	if l, _, err := Strings(m, "l"); err != nil || len(l) != 2 {
		t.Errorf("Strings l: %v %v", l, err)
	}
	for _, name := range []string{"n", "o", "a", "e"} {
		if _, _, err := Strings(m, name); !errors.Is(err, ErrMemberType) {
			t.Errorf("Strings %s: %v", name, err)
		}
	}
	_ = time.Now
}

func TestKeysAndAlgorithms(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	// jwx refuses to import a 1024-bit key: write its JWK by hand.
	rsa1024JWK := []byte(`{"kty":"RSA","n":"` + B64.EncodeToString(rsa1024.N.Bytes()) + `","e":"AQAB"}`)
	for _, tc := range []struct {
		pub  any
		alg  string
		want bool
	}{
		{&p256.PublicKey, "ES256", true}, {&p256.PublicKey, "ES384", false}, {&p384.PublicKey, "ES384", true},
		{&p256.PublicKey, "RS256", false}, {&rsa2048.PublicKey, "RS256", true}, {&rsa2048.PublicKey, "PS512", true},
		{&rsa1024.PublicKey, "RS256", false}, {&rsa2048.PublicKey, "HS256", false}, {&rsa2048.PublicKey, "none", false},
		{[]byte("secret"), "HS256", false},
	} {
		if got := KeyFits(tc.pub, tc.alg); got != tc.want {
			t.Errorf("KeyFits(%T, %s) = %v", tc.pub, tc.alg, got)
		}
	}
	jwkOf := func(key any, extra map[string]any) []byte {
		k, err := jwk.Import(key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(k)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for name, v := range extra {
			m[name] = v
		}
		b, _ = json.Marshal(m)
		return b
	}
	for name, tc := range map[string]struct {
		raw  []byte
		want error
	}{
		"EC public":          {jwkOf(&p256.PublicKey, nil), nil},
		"RSA public":         {jwkOf(&rsa2048.PublicKey, map[string]any{"alg": "RS256", "use": "sig"}), nil},
		"EC private":         {jwkOf(p256, nil), ErrPrivateJWK},
		"public with d":      {jwkOf(&p256.PublicKey, map[string]any{"d": "AAAA"}), ErrPrivateJWK},
		"oct":                {[]byte(`{"kty":"oct","k":"c2VjcmV0"}`), ErrPrivateJWK},
		"oct without k":      {[]byte(`{"kty":"oct"}`), ErrWeakJWK},
		"RSA 1024":           {rsa1024JWK, ErrNotJWK}, // jwx itself refuses to parse it
		"alg of another key": {jwkOf(&p256.PublicKey, map[string]any{"alg": "ES384"}), ErrJWKAlg},
		"alg HS256":          {jwkOf(&rsa2048.PublicKey, map[string]any{"alg": "HS256"}), ErrJWKAlg},
		"duplicate member":   {[]byte(`{"kty":"EC","kty":"EC","crv":"P-256","x":"a","y":"b"}`), ErrNotJWK},
		"kid a number":       {jwkOf(&p256.PublicKey, map[string]any{"kid": 5}), ErrNotJWK},
	} {
		_, err := ParsePublicJWK(tc.raw)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestVerifyECDSASignatureForms(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	input := []byte("header.payload")
	sum := sha256.Sum256(input)
	r, s, _ := ecdsa.Sign(rand.Reader, key, sum[:])
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	if err := Verify(&key.PublicKey, "ES256", input, sig); err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	highS := append(r.FillBytes(make([]byte, 32)), new(big.Int).Add(s, n).FillBytes(make([]byte, 33))[1:]...)
	for name, bad := range map[string][]byte{
		"short":          sig[:63],
		"long":           append(append([]byte{}, sig...), 0),
		"zero r":         append(make([]byte, 32), sig[32:]...),
		"r and s past N": append(n.FillBytes(make([]byte, 32)), n.FillBytes(make([]byte, 32))...),
		"s + N":          highS,
		"other input":    nil,
	} {
		in := input
		if bad == nil {
			bad, in = sig, []byte("header.other")
		}
		if err := Verify(&key.PublicKey, "ES256", in, bad); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := Verify(&key.PublicKey, "ES384", input, sig); !errors.Is(err, ErrSignature) {
		t.Errorf("ES384 with a P-256 key: %v", err)
	}
}

// ignoredKeyReferences are header members that name keys: this package
// never reads them (keys come from configuration).
var ignoredKeyReferences = []string{"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"}

// FuzzAgainstJWX is the differential check of this package against jwx
// v3's own JWS parser: whatever token this package reads and verifies,
// jwx verifies too, with the same algorithm, key ID and payload.
func FuzzAgainstJWX(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sign := func(header, payload string) string {
		input := B64.EncodeToString([]byte(header)) + "." + B64.EncodeToString([]byte(payload))
		sum := sha256.Sum256([]byte(input))
		r, s, _ := ecdsa.Sign(rand.Reader, key, sum[:])
		return input + "." + B64.EncodeToString(append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...))
	}
	for _, seed := range [][2]string{
		{`{"alg":"ES256","kid":"k","typ":"at+jwt"}`, `{"sub":"a","exp":1}`},
		{`{"alg":"ES256","alg":"none"}`, `{}`},
		{`{"alg":"ES256","crit":["b64"],"b64":false}`, `x`},
		{`{"alg":"ES256","kid":"\u006b"}`, `{"a":"\ud800"}`},
		{`{"alg":"ES384"}`, `{}`},
		{`{"alg":"ES256","jwk":{"kty":"EC"}}`, `{"sub":"a","Sub":"b"}`},
	} {
		f.Add(seed[0], seed[1], true)
	}
	f.Fuzz(func(t *testing.T, header, payload string, signIt bool) {
		token := B64.EncodeToString([]byte(header)) + "." + B64.EncodeToString([]byte(payload)) + ".AAAA"
		if signIt {
			token = sign(header, payload)
		}
		c, err := SplitCompact(token)
		if err != nil {
			return
		}
		h, err := ParseHeader(c.Header)
		if err != nil {
			return
		}
		if Verify(&key.PublicKey, h.Alg, []byte(c.SigningInput), c.Signature) != nil {
			return
		}
		got, err := jws.Verify([]byte(token), jws.WithKey(jwa.ES256(), &key.PublicKey))
		if err != nil {
			// jwx also parses key references (jwk, x5c, ...), which this
			// package never reads: a malformed one is no disagreement on
			// what the token says.
			for _, name := range ignoredKeyReferences {
				if _, ok := h.Members[name]; ok {
					return
				}
			}
			t.Fatalf("accepted here, refused by jwx (%v): header %q", err, header)
		}
		if string(got) != string(c.Payload) {
			t.Fatalf("payload %q here, %q in jwx", c.Payload, got)
		}
		msg, err := jws.Parse([]byte(token))
		if err != nil || len(msg.Signatures()) != 1 {
			t.Fatalf("jwx cannot parse what verified: %v", err)
		}
		ph := msg.Signatures()[0].ProtectedHeaders()
		if alg, ok := ph.Algorithm(); !ok || alg.String() != h.Alg {
			t.Fatalf("alg %q here, %v in jwx", h.Alg, alg)
		}
		if kid, _ := ph.KeyID(); kid != h.Kid {
			t.Fatalf("kid %q here, %q in jwx", h.Kid, kid)
		}
		if typ, _ := ph.Type(); typ != h.Typ {
			t.Fatalf("typ %q here, %q in jwx", h.Typ, typ)
		}
	})
}

func TestSplitCompactRefusesLineBreaks(t *testing.T) {
	for _, raw := range []string{"eyJh\nbGciOiJFUzI1NiJ9.e30.AAAA", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA\n", "eyJhbGciOiJFUzI1NiJ9.e3\r0.AAAA"} {
		if _, err := SplitCompact(raw); !errors.Is(err, ErrBase64) {
			t.Errorf("%q: %v", raw, err)
		}
	}
	if _, err := SplitCompact("eyJhbGciOiJFUzI1NiJ9.e30.AAAA"); err != nil {
		t.Fatal(err)
	}
}
