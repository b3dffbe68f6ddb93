// Package bodycases is the table of requests the one-credential rule of the
// `stepup` handler is tested with: the unit tests of enforce run it through
// the pure functions, the whole-server test in tests/ sends each request,
// byte for byte, to the built caddy in front of real PHP, Rack, Go and Node
// parsers. A case is a request as written on the wire (header lines in
// their own spelling, a body, chunked or not) and the answer it must get.
package bodycases

import (
	"bytes"
	"fmt"
	"strings"
)

// Want is the gateway's answer to a case.
type Want int

// Answers.
const (
	Pass       Want = iota // reaches the upstream, with no access_token any parser reads
	BadRequest             // 400 invalid_request, the upstream never called
	TooLarge               // 413 body_too_large, the upstream never called
)

func (w Want) String() string {
	return [...]string{"pass", "400", "413"}[w]
}

// Case is one request.
type Case struct {
	Name    string
	Method  string      // POST when empty
	Query   string      // the raw query, without "?"
	Header  [][2]string // header lines as written, in order (no Host, Content-Length, Transfer-Encoding)
	Body    []byte
	Chunked bool // sent with Transfer-Encoding: chunked instead of Content-Length
	Want    Want
	// Attack: sent straight to the parsers (no gateway), at least one of
	// them reads an access_token from this request; each case reported to
	// reach PHP or Rack through the gateway is one.
	Attack bool
}

// HTTPMethod is the case's method.
func (c Case) HTTPMethod() string {
	if c.Method == "" {
		return "POST"
	}
	return c.Method
}

// Values returns the values of the header lines named name, compared as
// Go's HTTP server compares names (case-insensitively, "_" is no "-").
func (c Case) Values(name string) []string {
	var vs []string
	for _, h := range c.Header {
		if strings.EqualFold(h[0], name) {
			vs = append(vs, h[1])
		}
	}
	return vs
}

// Wire returns the request as sent, for the given path and extra header
// lines (Host, Authorization); the connection is closed after it.
func (c Case) Wire(path string, extra ...[2]string) []byte {
	var b bytes.Buffer
	target := path
	if c.Query != "" {
		target += "?" + c.Query
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", c.HTTPMethod(), target)
	for _, h := range append(append([][2]string{}, extra...), c.Header...) {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("Connection: close\r\n")
	if c.Chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := c.Body; len(rest) > 0; {
			n := min(len(rest), 64<<10)
			fmt.Fprintf(&b, "%x\r\n", n)
			b.Write(rest[:n])
			b.WriteString("\r\n")
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.Bytes()
	}
	if len(c.Body) > 0 || c.HTTPMethod() == "POST" || c.HTTPMethod() == "PUT" || c.HTTPMethod() == "PATCH" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.Body))
	}
	b.WriteString("\r\n")
	b.Write(c.Body)
	return b.Bytes()
}

// defensive marks a refusal no parser of the test needs (none reads an
// access_token from the request sent straight to it), made because another
// parser could.
func defensive(c Case) Case {
	c.Attack = false
	return c
}

// ct is one Content-Type header line.
func ct(v string) [][2]string { return [][2]string{{"Content-Type", v}} }

const form = "application/x-www-form-urlencoded"

// mp is a multipart body with boundary b: each part is its head lines (CRLF
// ends added) and content, then the close delimiter and a CRLF.
func mp(b string, parts ...string) []byte {
	var s strings.Builder
	for _, p := range parts {
		s.WriteString("--" + b + "\r\n" + p + "\r\n")
	}
	s.WriteString("--" + b + "--\r\n")
	return []byte(s.String())
}

// field is a part with one Content-Disposition line.
func field(disposition, content string) string {
	return "Content-Disposition: " + disposition + "\r\n\r\n" + content
}

// named is a form-data field called name.
func named(name, content string) string { return field(`form-data; name="`+name+`"`, content) }

// utf16le spells s in UTF-16LE, as a parser decoding that charset reads it.
func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), 0)
	}
	return b
}

// fill is n bytes of a form field's value.
func fill(n int) string { return strings.Repeat("x", n) }
