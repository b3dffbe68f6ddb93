package enforce

import (
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	long := strings.Repeat("a", MaxTokenBytes)
	for _, tc := range []struct {
		name    string
		values  []string
		scheme  Scheme
		token   string
		problem Problem
	}{
		{"none", nil, Bearer, "", Missing},
		{"bearer", []string{"Bearer a.b.c"}, Bearer, "a.b.c", OK},
		{"bearer lower case", []string{"bearer a.b.c"}, Bearer, "a.b.c", OK},
		{"bearer upper case", []string{"BEARER a.b.c"}, Bearer, "a.b.c", OK},
		{"dpop", []string{"DPoP a.b.c"}, DPoP, "a.b.c", OK},
		{"dpop lower case", []string{"dpop a.b.c"}, DPoP, "a.b.c", OK},
		{"bearer alone", []string{"Bearer"}, Bearer, "", Missing},
		{"bearer and a space", []string{"Bearer "}, Bearer, "", Missing},
		{"dpop alone", []string{"DPoP"}, DPoP, "", Missing},
		{"two headers", []string{"Bearer a", "Bearer a"}, Bearer, "", Malformed},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, Bearer, "", Malformed},
		{"scheme glued to the token", []string{"Bearera.b.c"}, Bearer, "", Malformed},
		{"tab instead of space", []string{"Bearer\ta.b.c"}, Bearer, "", Malformed},
		{"two spaces", []string{"Bearer  a.b.c"}, Bearer, "", Malformed},
		{"two tokens", []string{"Bearer a b"}, Bearer, "", Malformed},
		{"comma-joined", []string{"Bearer a, Bearer b"}, Bearer, "", Malformed},
		{"padding inside", []string{"Bearer ab=cd"}, Bearer, "", Malformed},
		{"at the size cap", []string{"Bearer " + long}, Bearer, long, OK},
		{"over the size cap", []string{"Bearer " + long + "a"}, Bearer, "", Oversize},
		{"DPoP-prefixed scheme", []string{"DPoPx a"}, DPoP, "", Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, problem := ParseAuthorization(tc.values)
			if problem != tc.problem {
				t.Fatalf("problem = %d, want %d", problem, tc.problem)
			}
			if problem == OK && (c.Scheme != tc.scheme || c.Token != tc.token) {
				t.Errorf("got %d %q, want %d %q", c.Scheme, c.Token, tc.scheme, tc.token)
			}
		})
	}
}

func TestIsToken68(t *testing.T) {
	for s, want := range map[string]bool{
		"abc": true, "a.b.c": true, "a-_~+/": true, "abc==": true, "": false, "=": false,
		"a=b": false, "a b": false, "a\"b": false, "a,b": false, "é": false,
	} {
		if got := isToken68(s); got != want {
			t.Errorf("isToken68(%q) = %v, want %v", s, got, want)
		}
	}
}
