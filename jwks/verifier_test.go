package jwks

import (
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	gwIssuer  = "https://gw.example"
	idpIssuer = "https://idp.example"
	audience1 = "api"
)

// fixture is a verifier trusting two issuers: the gateway (its own ES256
// Signer, typ at+jwt) and an IdP (RSA key, RS256/PS256, typ at+jwt or JWT).
type fixture struct {
	gw       *Signer
	idpKey   any // *rsa.PrivateKey
	idpKid   string
	verifier *Verifier
}

func newFixture(t testing.TB, cacheSize int) *fixture {
	t.Helper()
	gw, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	idpKey := mustRSAKey(t, 2048)
	idpKeys, err := NewStatic(jwksJSON(t, jwkJSON(t, &idpKey.PublicKey, map[string]any{"kid": "idp-1", "alg": "RS256", "use": "sig"})))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierOptions{
		Issuers: []Issuer{
			{Issuer: gwIssuer, Audiences: []string{audience1}, Keys: gw.KeySource(), Types: []string{"at+jwt"}},
			{Issuer: idpIssuer, Audiences: []string{audience1}, Keys: idpKeys, Algorithms: []string{"RS256", "PS256"}, Types: []string{"at+jwt", "JWT"}},
		},
		Now:       func() time.Time { return testNow },
		CacheSize: cacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{gw: gw, idpKey: idpKey, idpKid: "idp-1", verifier: v}
}

// gwHeader is the header the gateway's tokens carry.
func (f *fixture) gwHeader(kv ...any) map[string]any {
	return with(map[string]any{"alg": "ES256", "kid": f.gw.KeyID(), "typ": "at+jwt"}, kv...)
}

// gwClaims is a valid payload for the gateway issuer.
func gwClaims(kv ...any) map[string]any { return with(claimsAt(gwIssuer, audience1, testNow), kv...) }

func TestVerifyAcceptsValidTokens(t *testing.T) {
	f := newFixture(t, 0)
	signed, err := f.gw.Sign("at+jwt", gwClaims())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		token   string
		wantIss string
	}{
		{"gateway token from Signer.Sign", signed, gwIssuer},
		{"typ with application/ prefix and other case", forge(t, "ES256", f.gw.priv, f.gwHeader("typ", "application/AT+JWT"), gwClaims()), gwIssuer},
		{"exp just past but within leeway", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", testNow.Add(-10*time.Second).Unix())), gwIssuer},
		{"nbf in the future within leeway", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("nbf", testNow.Add(20*time.Second).Unix())), gwIssuer},
		{"aud as an array", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("aud", []string{"other", audience1})), gwIssuer},
		{"ignored x5t header member", forge(t, "ES256", f.gw.priv, f.gwHeader("x5t", "abc"), gwClaims()), gwIssuer},
		{"IdP RS256 with typ JWT", forge(t, "RS256", f.idpKey, map[string]any{"alg": "RS256", "kid": f.idpKid, "typ": "JWT"}, claimsAt(idpIssuer, audience1, testNow)), idpIssuer},
		{"IdP RS256 without typ is refused only when Types lacks JWT; here typ JWT is listed", forge(t, "RS256", f.idpKey, map[string]any{"alg": "RS256", "kid": f.idpKid, "typ": "at+jwt"}, claimsAt(idpIssuer, audience1, testNow)), idpIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.verifier.Verify(context.Background(), tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Issuer != tt.wantIss || c.Subject != "user-1" || c.ID != "jti-1" || c.SessionID != "ses-1" {
				t.Errorf("claims = %+v", c)
			}
			if !slices.Equal(c.Scope, []string{"openid", "transfer:write"}) || !c.HasScope("transfer:write") || c.HasScope("Transfer:write") {
				t.Errorf("scope = %q", c.Scope)
			}
			if !slices.Contains(c.Audience, audience1) || c.ExpiresAt.IsZero() || c.IssuedAt.IsZero() {
				t.Errorf("claims = %+v", c)
			}
			var raw map[string]any
			if err := json.Unmarshal(c.Raw, &raw); err != nil || raw["jti"] != "jti-1" {
				t.Errorf("Raw = %s (%v)", c.Raw, err)
			}
		})
	}
}

func TestVerifyRefusesAttacks(t *testing.T) {
	f := newFixture(t, 16)
	ctx := context.Background()
	gwPub := &f.gw.priv.PublicKey
	attacker := mustECKey(t, elliptic.P256())
	attackerKid := thumbprint(t, &attacker.PublicKey)
	attackerJWK := jwkJSON(t, &attacker.PublicKey, map[string]any{"kid": attackerKid, "alg": "ES256"})

	// A server the jku/x5u header points at: it must never be contacted.
	var attackerHits atomic.Int32
	attackerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attackerHits.Add(1)
		_, _ = w.Write(jwksJSON(t, attackerJWK))
	}))
	defer attackerSrv.Close()

	pubDER, err := x509.MarshalPKIXPublicKey(gwPub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	valid := forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims())
	parts := strings.Split(valid, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	n := elliptic.P256().Params().N
	nBytes := n.FillBytes(make([]byte, 32))
	derSig := func() string { // the ASN.1 DER form of a valid signature
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		der, err := asn1Sig(r, s)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(der)
	}()
	withSig := func(b []byte) string {
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(b)
	}

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"alg none, empty signature", forge(t, "", nil, f.gwHeader("alg", "none"), gwClaims())},
		{"alg none, junk signature", forge(t, "", nil, f.gwHeader("alg", "none"), gwClaims()) + "AAAA"},
		{"alg None", forge(t, "", nil, f.gwHeader("alg", "None"), gwClaims()) + "AAAA"},
		{"HS256 keyed with the public key PEM", forge(t, "HS256", pubPEM, f.gwHeader("alg", "HS256"), gwClaims())},
		{"HS256 keyed with the public JWKS", forge(t, "HS256", f.gw.PublicJWKS(), f.gwHeader("alg", "HS256"), gwClaims())},
		{"embedded jwk header, attacker key and kid", forge(t, "ES256", attacker, f.gwHeader("kid", attackerKid, "jwk", attackerJWK), gwClaims())},
		{"embedded jwk header, gateway kid", forge(t, "ES256", attacker, f.gwHeader("jwk", attackerJWK), gwClaims())},
		{"jku to attacker JWKS", forge(t, "ES256", attacker, f.gwHeader("kid", attackerKid, "jku", attackerSrv.URL), gwClaims())},
		{"x5u to attacker", forge(t, "ES256", attacker, f.gwHeader("kid", attackerKid, "x5u", attackerSrv.URL), gwClaims())},
		{"kid path traversal", forge(t, "ES256", attacker, f.gwHeader("kid", "../../etc/passwd"), gwClaims())},
		{"kid SQL", forge(t, "ES256", attacker, f.gwHeader("kid", "' OR 1=1 --"), gwClaims())},
		{"kid not a string", forge(t, "ES256", f.gw.priv, f.gwHeader("kid", 1), gwClaims())},
		{"alg ES384 against an ES256 key", forge(t, "ES384", f.gw.priv, f.gwHeader("alg", "ES384"), gwClaims())},
		{"PS256 with a key declared RS256", forge(t, "PS256", f.idpKey, map[string]any{"alg": "PS256", "kid": f.idpKid, "typ": "JWT"}, claimsAt(idpIssuer, audience1, testNow))},
		{"RS512 not in the allow-list", forge(t, "RS512", f.idpKey, map[string]any{"alg": "RS512", "kid": f.idpKid, "typ": "JWT"}, claimsAt(idpIssuer, audience1, testNow))},
		{"crit present", forge(t, "ES256", f.gw.priv, f.gwHeader("crit", []string{"exp"}), gwClaims())},
		{"crit empty", forge(t, "ES256", f.gw.priv, f.gwHeader("crit", []string{}), gwClaims())},
		{"b64 false", forge(t, "ES256", f.gw.priv, f.gwHeader("b64", false), gwClaims())},
		{"enc member (JWE header)", forge(t, "ES256", f.gw.priv, f.gwHeader("enc", "A256GCM"), gwClaims())},
		{"nested token cty JWT", forge(t, "ES256", f.gw.priv, f.gwHeader("cty", "JWT"), gwClaims())},
		{"alg missing", forge(t, "ES256", f.gw.priv, f.gwHeader("alg", nil), gwClaims())},
		{"header alg in other case only", forge(t, "ES256", f.gw.priv, f.gwHeader("alg", nil, "ALG", "ES256"), gwClaims())},
		{"JSON flattened serialisation", `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`},
		{"JSON general serialisation", `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"},{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`},
		{"JWE-like five parts", parts[0] + ".." + parts[1] + "." + parts[2] + ".tag"},
		{"four parts", valid + ".x"},
		{"two parts", parts[0] + "." + parts[1]},
		{"padding in base64", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"whitespace", " " + valid},
		{"typ dpop+jwt presented as at+jwt", forge(t, "ES256", f.gw.priv, f.gwHeader("typ", "dpop+jwt"), gwClaims())},
		{"typ challenge presented as at+jwt", forge(t, "ES256", f.gw.priv, f.gwHeader("typ", "stepup-challenge+jwt"), gwClaims())},
		{"typ missing where at+jwt required", forge(t, "ES256", f.gw.priv, f.gwHeader("typ", nil), gwClaims())},
		{"typ JWT where at+jwt required", forge(t, "ES256", f.gw.priv, f.gwHeader("typ", "JWT"), gwClaims())},
		{"exp missing", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", nil))},
		{"exp 0", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", 0))},
		{"exp negative", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", -5))},
		{"exp null", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", json.RawMessage("null")))},
		{"exp string", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", "9999999999"))},
		{"exp huge", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", 1e300))},
		{"exp past beyond leeway", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", testNow.Add(-31*time.Second).Unix()))},
		{"nbf future beyond leeway", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("nbf", testNow.Add(2*time.Minute).Unix()))},
		{"iat future beyond leeway", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("iat", testNow.Add(2*time.Minute).Unix()))},
		{"iss unknown", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("iss", "https://evil.example"))},
		{"iss missing", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("iss", nil))},
		{"iss with trailing slash", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("iss", gwIssuer+"/"))},
		{"iss of the IdP signed with the gateway key", forge(t, "ES256", f.gw.priv, f.gwHeader("typ", "JWT"), claimsAt(idpIssuer, audience1, testNow))},
		{"iss of the gateway signed with the IdP key", forge(t, "RS256", f.idpKey, map[string]any{"alg": "RS256", "kid": f.idpKid, "typ": "at+jwt"}, gwClaims())},
		{"aud mismatch", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("aud", "other"))},
		{"aud missing", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("aud", nil))},
		{"aud number", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("aud", 1))},
		{"aud array with a number", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("aud", []any{audience1, 1}))},
		{"oversize", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("pad", strings.Repeat("a", MaxTokenBytes)))},
		{"claim names in other case (Iss, Exp)", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("iss", nil, "exp", nil, "Iss", gwIssuer, "Exp", testNow.Add(time.Hour).Unix()))},
		{"claim EXP upper case only", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("exp", nil, "EXP", testNow.Add(time.Hour).Unix()))},
		{"AUD upper case only", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("aud", nil, "AUD", audience1))},
		{"scope array", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("scope", []string{"transfer:write"}))},
		{"scope number", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("scope", 1))},
		{"scope null", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("scope", json.RawMessage("null")))},
		{"sub number", forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("sub", 42))},
		{"payload not an object", forge(t, "ES256", f.gw.priv, f.gwHeader(), []byte(`["exp"]`))},
		{"payload null", forge(t, "ES256", f.gw.priv, f.gwHeader(), []byte(`null`))},
		{"payload tampered", parts[0] + "." + segment(t, gwClaims("sub", "admin")) + "." + parts[2]},
		{"signature of another key", forge(t, "ES256", attacker, f.gwHeader(), gwClaims())},
		{"ECDSA signature in DER form", parts[0] + "." + parts[1] + "." + derSig},
		{"ECDSA signature one byte short", withSig(sig[:63])},
		{"ECDSA signature one byte long", withSig(append(slices.Clone(sig), 0))},
		{"ECDSA r = 0", withSig(append(make([]byte, 32), sig[32:]...))},
		{"ECDSA s = 0", withSig(append(slices.Clone(sig[:32]), make([]byte, 32)...))},
		{"ECDSA r = N", withSig(append(slices.Clone(nBytes), sig[32:]...))},
		{"ECDSA r + N overflowing into 33 bytes", withSig(append(new(big.Int).Add(new(big.Int).SetBytes(sig[:32]), n).Bytes(), sig[32:]...))},
		{"ECDSA s = N", withSig(append(slices.Clone(sig[:32]), nBytes...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.verifier.Verify(ctx, tt.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", c, err)
			}
			if c != nil {
				t.Errorf("claims returned with an error: %+v", c)
			}
			if strings.Contains(err.Error(), tt.token[:min(len(tt.token), 20)]) && len(tt.token) > 0 {
				t.Errorf("error %q leaks token bytes", err)
			}
		})
	}
	if got := attackerHits.Load(); got != 0 {
		t.Errorf("attacker's jku/x5u server was contacted %d times", got)
	}
	// The valid token these attacks are derived from is itself accepted, so
	// the refusals above come from the mutation, not the fixture.
	if _, err := f.verifier.Verify(ctx, valid); err != nil {
		t.Fatalf("unmodified token refused: %v", err)
	}
}

func TestVerifyRefusesHeaderAlgOtherThanKeyAlg(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	// ES384 is allowed for the issuer, so only the key's alg (ES256, P-256)
	// can refuse a token that says ES384.
	v, err := NewVerifier(VerifierOptions{
		Issuers: []Issuer{{Issuer: gwIssuer, Keys: s.KeySource(), Algorithms: []string{"ES256", "ES384"}}},
		Now:     func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := forge(t, "ES384", s.priv, map[string]any{"alg": "ES384", "kid": s.KeyID()}, gwClaims())
	_, err = v.Verify(context.Background(), tok)
	if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, errKeyAlg) {
		t.Fatalf("Verify err = %v, want the key-alg refusal", err)
	}
}

// TestVerifyCaseVariantClaims: names are exact ("SCOPE" is not scope),
// and a claims set with two names equal under case folding ("sub" and
// "Sub") is refused: a case-insensitive parser would read one of them.
func TestVerifyCaseVariantClaims(t *testing.T) {
	f := newFixture(t, 0)
	tok := forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("scope", nil, "SCOPE", "admin", "CNF", map[string]any{"jkt": "x"}))
	c, err := f.verifier.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Scope) != 0 || c.Subject != "user-1" || c.Confirmed {
		t.Errorf("case-variant claims filled fields: scope %q, sub %q, cnf %v", c.Scope, c.Subject, c.Confirmed)
	}
	for _, kv := range [][2]any{{"Sub", "root"}, {"SCOPE", "admin"}, {"Exp", 1}, {"ISS", gwIssuer}} {
		tok := forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims(kv[0], kv[1]))
		if _, err := f.verifier.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("claims with both %s and its exact name: %v", kv[0], err)
		}
	}
	dup := forge(t, "ES256", f.gw.priv, f.gwHeader(), []byte(fmt.Sprintf(`{"iss":%q,"sub":"user-1","sub":"root","aud":%q,"exp":%d}`,
		gwIssuer, audience1, testNow.Add(time.Hour).Unix())))
	if _, err := f.verifier.Verify(context.Background(), dup); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a duplicate sub: %v", err)
	}
}

// TestVerifyRequiresASubject: RFC 9068 §2.2 makes sub mandatory; a token
// without one (or with an empty one, or only a case variant) is invalid
// rather than a token of "nobody".
func TestVerifyRequiresASubject(t *testing.T) {
	f := newFixture(t, 0)
	for name, claims := range map[string]map[string]any{
		"absent":        gwClaims("sub", nil),
		"empty":         gwClaims("sub", ""),
		"null":          gwClaims("sub", json.RawMessage("null")),
		"number":        gwClaims("sub", 42),
		"only Sub":      gwClaims("sub", nil, "Sub", "user-1"),
		"only SUB":      gwClaims("sub", nil, "SUB", "user-1"),
		"array":         gwClaims("sub", []string{"user-1"}),
		"object":        gwClaims("sub", map[string]any{"id": "user-1"}),
		"empty escaped": gwClaims("sub", json.RawMessage(`"\u0000"`)),
	} {
		t.Run(name, func(t *testing.T) {
			tok := forge(t, "ES256", f.gw.priv, f.gwHeader(), claims)
			_, err := f.verifier.Verify(context.Background(), tok)
			if name == "empty escaped" {
				// A NUL is a character: odd, but a subject; the upstream gets it verbatim.
				if err != nil {
					t.Fatalf("sub \u0000: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want an invalid token", err)
			}
		})
	}
}

// TestVerifyScopeSyntax: a scope claim that is not RFC 6749 §3.3 syntax
// grants nothing, so that no upstream or gateway splits it differently.
func TestVerifyScopeSyntax(t *testing.T) {
	f := newFixture(t, 0)
	for _, tc := range []struct {
		scope string
		want  []string
	}{
		{"read:things admin", []string{"read:things", "admin"}},
		{"admin", []string{"admin"}},
		{"a!#[]^~", []string{"a!#[]^~"}},
		{"read:things admin ", nil},
		{" admin", nil},
		{"read:things  admin", nil},
		{"read:things\tadmin", nil},
		{"read:things\nadmin", nil},
		{"read:things\u00a0admin", nil},
		{"read:things\u3000admin", nil},
		{"adm\u0131n", nil},
		{"\"admin\"", nil},
		{"admin\\", nil},
		{"admin\u0000", nil},
		{"admin\u007f", nil},
		{"", nil},
		{" ", nil},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			tok := forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("scope", tc.scope))
			c, err := f.verifier.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Scope, tc.want) {
				t.Errorf("Scope = %q, want %q", c.Scope, tc.want)
			}
			if tc.want == nil && (c.ScopeText != "" || c.HasScope("admin")) {
				t.Errorf("an invalid scope claim still grants: %q", c.ScopeText)
			}
		})
	}
}

// TestVerifyConfirmationClaim reads cnf (RFC 7800) strictly: an object whose
// jkt is a non-empty string; other shapes make the token invalid.
func TestVerifyConfirmationClaim(t *testing.T) {
	f := newFixture(t, 0)
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	for _, tc := range []struct {
		name      string
		cnf       any
		valid     bool
		confirmed bool
		jkt       string
	}{
		{"absent", nil, true, false, ""},
		{"jkt", map[string]any{"jkt": jkt}, true, true, jkt},
		{"mTLS only", map[string]any{"x5t#S256": "abc"}, true, true, ""},
		{"empty object", map[string]any{}, true, true, ""},
		{"jkt empty", map[string]any{"jkt": ""}, false, false, ""},
		{"jkt number", map[string]any{"jkt": 1}, false, false, ""},
		{"jkt null", map[string]any{"jkt": nil}, false, false, ""},
		{"string", jkt, false, false, ""},
		{"null", json.RawMessage("null"), false, false, ""},
		{"array", []string{jkt}, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := gwClaims()
			if tc.cnf != nil {
				claims["cnf"] = tc.cnf
			}
			tok := forge(t, "ES256", f.gw.priv, f.gwHeader(), claims)
			c, err := f.verifier.Verify(context.Background(), tok)
			if !tc.valid {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("err = %v, want an invalid token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Confirmed != tc.confirmed || c.JKT != tc.jkt {
				t.Errorf("Confirmed %v JKT %q, want %v %q", c.Confirmed, c.JKT, tc.confirmed, tc.jkt)
			}
		})
	}
}

func TestVerifyTypeRules(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		types  []string
		typ    any // nil: header without typ
		wantOK bool
	}{
		{"no Types, typ absent", nil, nil, true},
		{"no Types, typ JWT", nil, "JWT", true},
		{"no Types, typ application/jwt", nil, "application/jwt", true},
		{"no Types, typ at+jwt", nil, "at+jwt", false},
		{"no Types, typ not a string", nil, 1, false},
		{"dpop+jwt, typ DPoP+JWT", []string{"dpop+jwt"}, "DPoP+JWT", true},
		{"dpop+jwt, typ at+jwt", []string{"dpop+jwt"}, "at+jwt", false},
		{"dpop+jwt, typ absent", []string{"dpop+jwt"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierOptions{
				Issuers: []Issuer{{Issuer: gwIssuer, Keys: s.KeySource(), Types: tt.types}},
				Now:     func() time.Time { return testNow },
			})
			if err != nil {
				t.Fatal(err)
			}
			hdr := map[string]any{"alg": "ES256", "kid": s.KeyID()}
			if tt.typ != nil {
				hdr["typ"] = tt.typ
			}
			_, err = v.Verify(context.Background(), forge(t, "ES256", s.priv, hdr, gwClaims()))
			if (err == nil) != tt.wantOK {
				t.Fatalf("Verify err = %v, want ok %v", err, tt.wantOK)
			}
		})
	}
}

func TestVerifyWithoutKid(t *testing.T) {
	one := mustECKey(t, elliptic.P256())
	two := mustECKey(t, elliptic.P256())
	single, err := NewStatic(jwksJSON(t, jwkJSON(t, &one.PublicKey, nil)))
	if err != nil {
		t.Fatal(err)
	}
	double, err := NewStatic(jwksJSON(t, jwkJSON(t, &one.PublicKey, map[string]any{"kid": "a"}), jwkJSON(t, &two.PublicKey, map[string]any{"kid": "b"})))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		keys   KeySource
		wantOK bool
	}{
		{"exactly one key", single, true},
		{"two keys", double, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Issuer: gwIssuer, Keys: tt.keys}}, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), forge(t, "ES256", one, map[string]any{"alg": "ES256"}, gwClaims()))
			if (err == nil) != tt.wantOK {
				t.Fatalf("Verify err = %v, want ok %v", err, tt.wantOK)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestVerifyRSAKeyWithoutAlgAcceptsAllowedRSAAlgorithms(t *testing.T) {
	key := mustRSAKey(t, 2048)
	src, err := NewStatic(jwksJSON(t, jwkJSON(t, &key.PublicKey, map[string]any{"kid": "r"})))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierOptions{
		Issuers: []Issuer{{Issuer: gwIssuer, Keys: src, Algorithms: []string{"PS256", "ES256"}}},
		Now:     func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		alg    string
		wantOK bool
	}{
		{"PS256", true},
		{"RS256", false}, // not in the allow-list
		{"ES256", false}, // allowed, but not for an RSA key
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			var tok string
			if tt.alg == "ES256" {
				tok = forge(t, "ES256", mustECKey(t, elliptic.P256()), map[string]any{"alg": tt.alg, "kid": "r"}, gwClaims())
			} else {
				tok = forge(t, tt.alg, key, map[string]any{"alg": tt.alg, "kid": "r"}, gwClaims())
			}
			_, err := v.Verify(context.Background(), tok)
			if (err == nil) != tt.wantOK {
				t.Fatalf("Verify err = %v, want ok %v", err, tt.wantOK)
			}
		})
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	ks := s.KeySource()
	tests := []struct {
		name string
		opts VerifierOptions
	}{
		{"no issuers", VerifierOptions{}},
		{"HS256 allowed", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks, Algorithms: []string{"HS256"}}}}},
		{"none allowed", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks, Algorithms: []string{"none"}}}}},
		{"unknown alg", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks, Algorithms: []string{"es256"}}}}},
		{"no keys", VerifierOptions{Issuers: []Issuer{{Issuer: "a"}}}},
		{"duplicate issuer", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks}, {Issuer: "a", Keys: ks}}}},
		{"empty issuer beside another", VerifierOptions{Issuers: []Issuer{{Issuer: "", Keys: ks}, {Issuer: "a", Keys: ks}}}},
		{"leeway above 60s", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks}}, Leeway: 61 * time.Second}},
		{"negative leeway", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks}}, Leeway: -time.Second}},
		{"negative cache", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks}}, CacheSize: -1}},
		{"empty typ", VerifierOptions{Issuers: []Issuer{{Issuer: "a", Keys: ks, Types: []string{""}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := NewVerifier(tt.opts); err == nil {
				t.Fatalf("NewVerifier = %v, want an error", v)
			}
		})
	}
}

func TestVerifyIssuerUncheckedWhenEmpty(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierOptions{Issuers: []Issuer{{Keys: s.KeySource()}}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	for _, iss := range []any{"https://backend.example", nil} {
		tok, err := s.Sign("", gwClaims("iss", iss))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("iss %v: %v", iss, err)
		}
	}
}

// asn1Sig encodes r, s as an ASN.1 ECDSA signature.
func asn1Sig(r, s *big.Int) ([]byte, error) {
	type sigValue struct{ R, S *big.Int }
	return asn1.Marshal(sigValue{r, s})
}

// TestVerifyAuthenticationClaims: acr a string, amr an array of strings,
// auth_time a NumericDate, read exactly; any other type, a case variant
// next to the exact name, or an authentication in the future makes the
// token invalid (a route may require them: never "as if absent").
func TestVerifyAuthenticationClaims(t *testing.T) {
	f := newFixture(t, 0)
	at := testNow.Add(-2 * time.Minute).Unix()
	tok := forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims("acr", "urn:stepup:otp", "amr", []string{"otp", "sms"}, "auth_time", at))
	c, err := f.verifier.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.ACR != "urn:stepup:otp" || !slices.Equal(c.AMR, []string{"otp", "sms"}) || c.AuthTime.Unix() != at {
		t.Errorf("read acr %q amr %v auth_time %v", c.ACR, c.AMR, c.AuthTime)
	}
	if c, err := f.verifier.Verify(context.Background(), forge(t, "ES256", f.gw.priv, f.gwHeader(), gwClaims())); err != nil ||
		c.ACR != "" || c.AMR != nil || !c.AuthTime.IsZero() {
		t.Errorf("absent: %+v %v", c, err)
	}
	for name, claims := range map[string]map[string]any{
		"acr number":            gwClaims("acr", 2),
		"acr array":             gwClaims("acr", []string{"urn:stepup:otp"}),
		"acr null":              gwClaims("acr", json.RawMessage("null")),
		"acr twice":             nil,
		"amr a lone string":     gwClaims("amr", "otp"),
		"amr with a number":     gwClaims("amr", []any{"otp", 1}),
		"amr object":            gwClaims("amr", map[string]any{"otp": true}),
		"amr null":              gwClaims("amr", json.RawMessage("null")),
		"auth_time a string":    gwClaims("auth_time", "1700000000"),
		"auth_time negative":    gwClaims("auth_time", -1),
		"auth_time null":        gwClaims("auth_time", json.RawMessage("null")),
		"auth_time in a minute": gwClaims("auth_time", testNow.Add(time.Minute+DefaultLeeway).Unix()),
		"ACR beside acr":        gwClaims("acr", "urn:a", "ACR", "urn:b"),
		"Auth_Time beside":      gwClaims("auth_time", at, "Auth_Time", at),
	} {
		t.Run(name, func(t *testing.T) {
			var tok string
			if claims == nil {
				tok = forge(t, "ES256", f.gw.priv, f.gwHeader(), []byte(fmt.Sprintf(`{"iss":%q,"sub":"user-1","aud":%q,"exp":%d,"acr":"urn:low","acr":"urn:high"}`,
					gwIssuer, audience1, testNow.Add(time.Hour).Unix())))
			} else {
				tok = forge(t, "ES256", f.gw.priv, f.gwHeader(), claims)
			}
			if _, err := f.verifier.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want an invalid token", err)
			}
		})
	}
}
