package enforce

import (
	"strings"
	"testing"
)

// FuzzParseAuthorization feeds arbitrary Authorization values to the
// parser: it must never panic, and whatever it returns as a token must be a
// token68 of at most 8 KiB taken verbatim from the header, after a scheme
// it names.
func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []string{"Bearer abc.def.ghi", "bearer a", "Bearer ", "Basic x", "Bearer a b", "Bearer ==", "BEARER x=", "DPoP a.b.c", "dpop ", "DPoPx a"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		c, problem := ParseAuthorization([]string{auth})
		if problem != OK {
			if c.Token != "" {
				t.Fatalf("problem %d with token %q", problem, c.Token)
			}
			return
		}
		scheme := map[Scheme]string{Bearer: "bearer", DPoP: "dpop"}[c.Scheme]
		if len(c.Token) > MaxTokenBytes || !isToken68(c.Token) || auth[len(scheme):] != " "+c.Token || !strings.EqualFold(auth[:len(scheme)], scheme) {
			t.Fatalf("accepted %q (scheme %d) from %q", c.Token, c.Scheme, auth)
		}
	})
}
