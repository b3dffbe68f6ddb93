package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/internal/bodycases"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// TestOneCredentialAgainstRealParsers sends every request of
// internal/bodycases, exactly as written, through the built caddy to PHP,
// Rack, Go and Node upstreams. A refused request gets its status and an
// error body in the SDK's shape, and no parser is called; a request let
// through reaches each parser as the exact bytes sent, and no parser reads
// an access_token from it. Each request is also sent straight to the
// parsers: those marked as attacks give at least one of them an
// access_token, so that each refusal is one a real parser needed.
func TestOneCredentialAgainstRealParsers(t *testing.T) {
	dir := requireParsers(t)
	parsers := startParsers(t, dir)
	key := newECKey(t, "es-1")
	idp := newIdP(t, "https://idp.test", key)
	gateway := startParserGateway(t, idp, parsers)
	auth := "Bearer " + key.token(t, idp.issuer, nil)
	host := strings.TrimPrefix(gateway, "http://")

	for _, c := range bodycases.All(enforce.DefaultBodyLimit) {
		t.Run(c.Name, func(t *testing.T) {
			var readers []string
			for _, p := range parsers {
				got := rawExchange(t, p.direct, c.Wire("/direct", [2]string{"Host", p.direct}))
				if got.status == 200 && reportNames(t, got.body, "access_token") != "" {
					readers = append(readers, p.name)
				}
			}
			if c.Attack != (len(readers) > 0) {
				t.Errorf("sent straight to the parsers, %v read an access_token (attack: %v)", readers, c.Attack)
			}
			for _, p := range parsers {
				before := p.rec.hits()
				got := rawExchange(t, host, c.Wire("/"+p.name+"/report", [2]string{"Host", host}, [2]string{"Authorization", auth}))
				hits := p.rec.hits() - before
				if c.Want != bodycases.Pass {
					checkRefusal(t, p.name, c.Want, got, hits)
					continue
				}
				if got.status != 200 || hits != 1 {
					t.Errorf("%s: %d after %d upstream requests: %s", p.name, got.status, hits, got.body)
					continue
				}
				if name := reportNames(t, got.body, "access_token"); name != "" {
					t.Errorf("%s read %q through the gateway: %s", p.name, name, got.body)
				}
				checkForwarded(t, p, c)
			}
		})
	}
}

// startParserGateway runs caddy with one route per parser, each behind
// `stepup` (any valid token of idp) and proxied to the parser's recorder,
// one request per connection.
func startParserGateway(t *testing.T, idp *testIdP, parsers []*parserUpstream) string {
	t.Helper()
	port := testcaddy.FreePort(t)
	var routes strings.Builder
	for _, p := range parsers {
		fmt.Fprintf(&routes, "\troute /%s/* {\n\t\tstepup\n\t\treverse_proxy %s {\n\t\t\ttransport http {\n\t\t\t\tkeepalive off\n\t\t\t}\n\t\t}\n\t}\n", p.name, p.rec.addr())
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		trust %s {
			jwks_url %s
			audience api
		}
	}
}

%s {
%s	respond 404
}
`, idp.issuer, idp.jwksURL(), base, routes.String()), WaitFor: []string{base + "/nothing"}})
	return base
}

// rawAnswer is a response read off a connection.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
}

// rawExchange writes wire on a new connection to addr (while reading, so
// that an early answer to a large body is not lost) and reads the answer.
func rawExchange(t *testing.T, addr string, wire []byte) rawAnswer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	go func() { _, _ = conn.Write(wire) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer from %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body from %s: %v", addr, err)
	}
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: body}
}

// checkRefusal: the status of want, the SDK's error shape, no-store, the
// challenge of a malformed request, and no request at the parser.
func checkRefusal(t *testing.T, parser string, want bodycases.Want, got rawAnswer, hits int) {
	t.Helper()
	status, code, www := 400, "bad_request", `Bearer error="invalid_request"`
	if want == bodycases.TooLarge {
		status, code, www = 413, "body_too_large", ""
	}
	var e struct{ Code, Message, Type string }
	if err := json.Unmarshal(got.body, &e); err != nil || e.Code != code || e.Message == "" || e.Type == "" {
		t.Errorf("%s: body %s, want the SDK's error shape with code %q", parser, got.body, code)
	}
	challenge, _ := splitChallenge(t, got.header.Get("WWW-Authenticate"))
	if got.status != status || challenge != www || got.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: %d %q %q, want %d %q no-store", parser, got.status, challenge, got.header.Get("Cache-Control"), status, www)
	}
	if hits != 0 {
		t.Errorf("%s: the parser was called %d times", parser, hits)
	}
}

// checkForwarded: the parser received the method, query, Content-Type and
// exactly the body bytes sent.
func checkForwarded(t *testing.T, p *parserUpstream, c bodycases.Case) {
	t.Helper()
	req, body, err := p.rec.last()
	if err != nil {
		t.Errorf("%s: the request it received does not parse: %v", p.name, err)
		return
	}
	if req.Method != c.HTTPMethod() || req.URL.RawQuery != c.Query || !bytes.Equal(body, c.Body) {
		t.Errorf("%s received %s ?%s with %d bytes, sent %s ?%s with %d", p.name, req.Method, req.URL.RawQuery, len(body), c.HTTPMethod(), c.Query, len(c.Body))
	}
	if sent := c.Values("Content-Type"); fmt.Sprint(req.Header["Content-Type"]) != fmt.Sprint(sent) {
		t.Errorf("%s received Content-Type %q, sent %q", p.name, req.Header["Content-Type"], sent)
	}
}

// reportNames returns the first name in a parser's report (any of its
// arrays of names) that equals name in any case, or "".
func reportNames(t *testing.T, report []byte, name string) string {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(report, &fields); err != nil {
		t.Fatalf("a parser's report is not JSON: %s", report)
	}
	for _, v := range fields {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		for _, n := range list {
			if s, ok := n.(string); ok && strings.EqualFold(s, name) {
				return s
			}
		}
	}
	return ""
}
