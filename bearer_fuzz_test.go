package caddystepup

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBearerToken feeds arbitrary Authorization values (and query strings)
// to the extractor: it must never panic, and whatever it returns as a
// token must be a token68 of at most 8 KiB taken verbatim from the header.
func FuzzBearerToken(f *testing.F) {
	for _, seed := range []string{"Bearer abc.def.ghi", "bearer a", "Bearer ", "Basic x", "Bearer a b", "Bearer ==", "BEARER x="} {
		f.Add(seed, "")
	}
	f.Add("Bearer a.b.c", "access_token=x")
	f.Fuzz(func(t *testing.T, auth, query string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = query
		r.Header["Authorization"] = []string{auth}
		tok, problem := bearerToken(r)
		if problem != tokenOK {
			if tok != "" {
				t.Fatalf("problem %d with token %q", problem, tok)
			}
			return
		}
		if len(tok) > maxTokenBytes || !isToken68(tok) || !strings.HasSuffix(auth, " "+tok) || !strings.EqualFold(auth[:6], "bearer") {
			t.Fatalf("accepted %q from %q", tok, auth)
		}
	})
}
