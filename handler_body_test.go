package caddystepup

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/internal/bodycases"
)

// TestOneCredentialTableAtTheHandler: each request of internal/bodycases
// (the table the whole-server test sends to real parsers), parsed off the
// wire by net/http as Caddy's server does, gets its answer from the
// handler; a refused one never reaches next, and one let through reaches
// it with exactly the bytes sent (with their Content-Length when the
// handler read them).
func TestOneCredentialTableAtTheHandler(t *testing.T) {
	app := testApp(t)
	h := testHandler(t, app, &Handler{})
	auth := [2]string{"Authorization", "Bearer " + mintToken(t, app, nil)}
	for _, c := range bodycases.All(enforce.DefaultBodyLimit) {
		t.Run(c.Name, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.Wire("/x", [2]string{"Host", "gateway.test"}, auth))))
			if err != nil {
				t.Fatal(err)
			}
			rec, seen := serve(t, h, r)
			switch c.Want {
			case bodycases.BadRequest:
				assertRefused(t, rec, seen, 400, `Bearer error="invalid_request"`, "bad_request")
			case bodycases.TooLarge:
				assertRefused(t, rec, seen, 413, "", "body_too_large")
			default:
				if rec.Code != 200 || seen.calls != 1 || seen.body != string(c.Body) {
					t.Fatalf("status %d, calls %d, %d bytes reached next, %d sent: %s", rec.Code, seen.calls, len(seen.body), len(c.Body), rec.Body)
				}
				if cl := seen.headers.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(c.Body)) {
					t.Fatalf("Content-Length %s for %d bytes", cl, len(c.Body))
				}
			}
		})
	}
}
