// The one credential of a request at a route (RFC 6750 §3.1), and bodies
// read whole and handed on as exactly the bytes checked.

package enforce

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// checkOneCredential refuses a request that carries (or may carry) an
// access token besides its Authorization header: RFC 6750 §3.1 allows one
// method per request, and an upstream reading the other token would act
// for whoever that token names. A request with a body needs a Content-Type
// that every parser reads the same way (or none); form bodies (and bodies
// without a Content-Type) are read whole (up to BodyLimit), inspected and
// handed on unchanged.
func (ro *Route) checkOneCredential(r *http.Request, rs *refusals) *Refusal {
	if len(r.Header["Content-Type"]) > 1 {
		return &rs.badRequest
	}
	if r.URL.RawQuery != "" && HasAccessToken(r.URL.RawQuery) {
		return &rs.badRequest
	}
	if r.ContentLength == 0 {
		return nil // no body (Caddy wraps even an empty one): nothing an upstream could parse
	}
	raw, read, err := InspectBody(r.Header["Content-Type"], r.Header["Content-Encoding"], r.Body, ro.cfg.BodyLimit)
	if err != nil {
		ro.debug("request body refused", err)
		if errors.Is(err, ErrBodyTooLarge) {
			return &rs.tooLarge
		}
		return &rs.badRequest
	}
	if read {
		putBody(r, raw)
	}
	return nil
}

// readBody reads the whole body (at most BodyLimit) and puts exactly those
// bytes back for the upstream, with their length.
func (ro *Route) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	raw, err := ReadSizedBody(r.Body, r.ContentLength, ro.cfg.BodyLimit)
	if err != nil {
		return nil, err
	}
	putBody(r, raw)
	return raw, nil
}

// putBody replaces a body read whole with exactly its bytes, sent with
// their Content-Length (no longer chunked).
func putBody(r *http.Request, raw []byte) {
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	r.TransferEncoding = nil
	r.Header["Content-Length"] = []string{strconv.Itoa(len(raw))}
}
