package enforce

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/bodycases"
)

// TestOneCredentialTable runs the table the whole-server test sends to
// real parsers (internal/bodycases) through the checks of the `stepup`
// handler, in its order: Content-Type lines, the query, then the body.
// Every body the checks read and let through is handed on byte for byte.
func TestOneCredentialTable(t *testing.T) {
	const limit = DefaultBodyLimit
	for _, c := range bodycases.All(limit) {
		t.Run(c.Name, func(t *testing.T) {
			got, raw, read := judge(c, limit)
			if got != c.Want {
				t.Fatalf("%s, want %s", got, c.Want)
			}
			if read && !bytes.Equal(raw, c.Body) {
				t.Fatalf("read %d bytes, sent %d", len(raw), len(c.Body))
			}
		})
	}
}

// judge is what the handler decides for c, with the request's header as
// Go's HTTP server builds it (names canonicalized, case variants merged).
func judge(c bodycases.Case, limit int64) (bodycases.Want, []byte, bool) {
	h := http.Header{}
	for _, line := range c.Header {
		h.Add(line[0], line[1])
	}
	if len(h["Content-Type"]) > 1 || HasAccessToken(c.Query) {
		return bodycases.BadRequest, nil, false
	}
	if len(c.Body) == 0 && !c.Chunked {
		return bodycases.Pass, nil, false
	}
	raw, read, err := InspectBody(h["Content-Type"], h["Content-Encoding"], bytes.NewReader(c.Body), limit)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return bodycases.TooLarge, nil, false
	case err != nil:
		return bodycases.BadRequest, nil, false
	}
	return bodycases.Pass, raw, read
}
