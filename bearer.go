package caddystepup

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxTokenBytes caps the size of a token before any parsing.
const maxTokenBytes = 8 << 10

// maxFormPeekBytes is how much of a form-encoded body is read to look for a
// competing `access_token` parameter (RFC 6750 §2.2).
const maxFormPeekBytes = 64 << 10

// tokenProblem says why a request carries no usable token.
type tokenProblem int

const (
	tokenOK        tokenProblem = iota
	tokenMissing                // no credentials at all
	tokenMalformed              // the request itself is malformed (RFC 6750 invalid_request)
	tokenOversize               // a token too large to be one of ours
)

// bearerToken extracts the access token of r (RFC 6750 §2.1), or says why
// there is none.
func bearerToken(r *http.Request) (string, tokenProblem) {
	values := r.Header.Values("Authorization")
	if len(values) > 1 {
		return "", tokenMalformed
	}
	if tokenInQuery(r.URL) || tokenInForm(r) {
		// RFC 6750 §3.1: more than one method of passing the token is an
		// invalid request; a query token alone is refused as well, because
		// query strings end up in access logs.
		return "", tokenMalformed
	}
	if len(values) == 0 {
		return "", tokenMissing
	}
	v := values[0]
	const scheme = "bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", tokenMalformed
	}
	rest := v[len(scheme):]
	if strings.TrimSpace(rest) == "" {
		// "Bearer" or "Bearer " carries no credentials: the SDK sends it
		// when it has no token yet, and it means "log in", not "bad request".
		return "", tokenMissing
	}
	if rest[0] != ' ' {
		return "", tokenMalformed
	}
	token := rest[1:]
	if len(token) > maxTokenBytes {
		return "", tokenOversize
	}
	if !isToken68(token) {
		return "", tokenMalformed
	}
	return token, tokenOK
}

// token68Chars marks the bytes of RFC 7235's token68 before the padding:
// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/".
var token68Chars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~+/" {
		t[c] = true
	}
	return t
}()

// isToken68 reports whether s matches token68: 1*( token68 char ) *"=".
func isToken68(s string) bool {
	i := 0
	for i < len(s) && token68Chars[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

func tokenInQuery(u *url.URL) bool {
	if u.RawQuery == "" || !strings.Contains(u.RawQuery, "access_token") {
		return false
	}
	q, err := url.ParseQuery(u.RawQuery)
	return err != nil || q.Has("access_token")
}

// tokenInForm looks for an access_token parameter in a form-encoded body
// without consuming the body: what was read is put back in front.
func tokenInForm(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || !strings.Contains(strings.ToLower(ct), "x-www-form-urlencoded") {
		return false
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxFormPeekBytes))
	r.Body = readCloser{io.MultiReader(strings.NewReader(string(head)), r.Body), r.Body}
	if err != nil {
		return true // unreadable body: refuse rather than guess
	}
	if !strings.Contains(string(head), "access_token") {
		return false
	}
	q, err := url.ParseQuery(string(head))
	return err != nil || q.Has("access_token")
}

type readCloser struct {
	io.Reader
	io.Closer
}
