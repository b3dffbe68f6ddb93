package urlcheck

import (
	"errors"
	"strings"
	"testing"
)

func TestHTTP(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://b.test/hook": true, "http://b.test/hook": true, "http://127.0.0.1:9/h": true,
		"b.test/hook": false, "/hook": false, "ftp://b.test/x": false, "https://": false, "": false, "https://b.test/%zz": false,
	} {
		if err := HTTP(s); (err == nil) != ok {
			t.Errorf("HTTP(%q) = %v, want ok %v", s, err, ok)
		}
	}
}

func TestHTTPSOrLoopback(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://idp.example.com/jwks": true, "http://127.0.0.1:9/jwks.json": true, "http://127.12.0.3/jwks": true,
		"http://[::1]:9/jwks": true, "http://localhost:9/jwks": true,
		"http://idp.example.com/jwks": false, "http://127.attacker.example/jwks": false,
		"http://attacker.example.127.0.0.1.nip.io/jwks": false, "http://localhost.attacker.example/jwks": false,
		"jwks.json": false, "//evil.example/": false, "ftp://idp.example.com/jwks": false, "http://[::ffff:8.8.8.8]/": false,
	} {
		if err := HTTPSOrLoopback(s); (err == nil) != ok {
			t.Errorf("HTTPSOrLoopback(%q) = %v, want ok %v", s, err, ok)
		}
	}
}

func TestRedirectURI(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://app.test/cb": true, "http://localhost:3000/cb": true, "https://app.test/cb?x=1": true,
		"https://app.test/cb#": false, "https://app.test/cb#x": false, "https://u@app.test/cb": false, "https://u:p@app.test/cb": false,
		"http://app.test/cb": false, "/cb": false, "https://app.test/a b": false, "https://app.test/a\\b": false, "https://app.test/a\tb": false,
	} {
		if err := RedirectURI(s); (err == nil) != ok {
			t.Errorf("RedirectURI(%q) = %v, want ok %v", s, err, ok)
		}
	}
}

func TestHTTPSOrLoopbackErrors(t *testing.T) {
	for s, want := range map[string]error{"jwks.json": ErrNotAbsolute, "http://idp.test/": ErrNotHTTPS, "ftp://idp.test/": ErrNotHTTPS} {
		if err := HTTPSOrLoopback(s); !errors.Is(err, want) || !strings.Contains(err.Error(), s) {
			t.Errorf("HTTPSOrLoopback(%q) = %v, want %v quoting the URL", s, err, want)
		}
	}
}
