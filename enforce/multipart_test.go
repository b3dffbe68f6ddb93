package enforce

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/bodycases"
)

// FuzzReadMultipart: a body readMultipart accepts as canonical, Go's
// mime/multipart reads as the same parts with the same names, and a part
// readMultipart names access_token makes inspectMultipart refuse the body.
func FuzzReadMultipart(f *testing.F) {
	for _, c := range bodycases.All(4096) {
		if vs := c.Values("Content-Type"); len(vs) == 1 && len(c.Body) < 4096 {
			if m, err := ParseContentType(vs[0]); err == nil && m.IsMultipart() {
				f.Add(m.Boundary, c.Body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		m, err := ParseContentType(`multipart/form-data; boundary="` + boundary + `"`)
		if err != nil {
			return
		}
		parts, err := readMultipart(m, body)
		if err != nil {
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("error %v", err)
			}
			return
		}
		r := multipart.NewReader(bytes.NewReader(body), m.Boundary)
		for i := 0; ; i++ {
			p, err := r.NextRawPart()
			if err == io.EOF {
				if i != len(parts) {
					t.Fatalf("Go reads %d parts, readMultipart %d", i, len(parts))
				}
				break
			}
			if err != nil {
				t.Fatalf("Go refuses part %d of an accepted body: %v", i, err)
			}
			if i >= len(parts) || p.FormName() != parts[i].name {
				t.Fatalf("Go reads part %d as %q, readMultipart as %+v", i, p.FormName(), parts)
			}
			if _, err := io.Copy(io.Discard, p); err != nil {
				t.Fatalf("Go cannot read part %d of an accepted body: %v", i, err)
			}
		}
		for _, p := range parts {
			if p.carriesAccessToken() && inspectMultipart(m, body) == nil {
				t.Fatalf("a part named %q was let through", p.name)
			}
		}
	})
}
