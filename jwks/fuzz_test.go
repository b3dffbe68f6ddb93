package jwks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, every
// refusal must be ErrInvalidToken, and anything accepted must be one of the
// tokens the test itself signed (so no mutation yields a forgery).
func FuzzVerify(f *testing.F) {
	s, err := GenerateSigner()
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(VerifierOptions{
		Issuers:   []Issuer{{Issuer: gwIssuer, Audiences: []string{audience1}, Keys: s.KeySource(), Types: []string{"at+jwt"}}},
		Now:       func() time.Time { return testNow },
		CacheSize: 64,
	})
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{}
	for _, c := range []map[string]any{
		gwClaims(),
		gwClaims("aud", []string{audience1, "x"}, "scope", "a b  c"),
		gwClaims("nbf", nil, "iat", nil, "exp", float64(testNow.Unix())+0.5),
	} {
		tok, err := s.Sign("at+jwt", c)
		if err != nil {
			f.Fatal(err)
		}
		signed[tok] = true
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "..." + parts[2])
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("refusal is not ErrInvalidToken: %v", err)
			}
			return
		}
		if !signed[raw] {
			t.Fatalf("accepted a token the test never signed: %q", raw)
		}
		if c.Issuer != gwIssuer || c.ExpiresAt.IsZero() {
			t.Fatalf("accepted claims = %+v", c)
		}
	})
}
