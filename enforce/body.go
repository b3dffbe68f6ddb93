package enforce

import (
	"errors"
	"io"
)

// DefaultBodyLimit is how much of a form body, or of a body checked by
// transaction binding, the handler reads to inspect it. A larger one is
// refused, never passed on unchecked.
const DefaultBodyLimit = 1 << 20

// Refusals of a request body.
var (
	// ErrSecondCredential: an access_token parameter in the query, a form
	// body or a multipart part name (RFC 6750 §3.1: one method only).
	ErrSecondCredential = errors.New("enforce: a second credential in the request")
	// ErrMalformedBody: a form or multipart body that does not parse
	// exactly one way, so that what an upstream reads from it can't be known.
	ErrMalformedBody = errors.New("enforce: malformed form body")
	// ErrEncodedBody: a form body with a Content-Encoding, which the gateway
	// does not decode to inspect.
	ErrEncodedBody = errors.New("enforce: encoded form body")
	// ErrBodyTooLarge: a body to inspect is larger than the limit.
	ErrBodyTooLarge = errors.New("enforce: body too large to inspect")
)

// BodyKind is what the gateway makes of a request body.
type BodyKind int

// Body kinds.
const (
	OpaqueBody    BodyKind = iota // another media type: streamed to the upstream as is
	FormBody                      // application/x-www-form-urlencoded, or no Content-Type at all
	MultipartBody                 // multipart/*, every subtype
)

// ClassifyBody reads the Content-Type lines of a request that carries a
// body. More than one line, or one that ParseContentType refuses, is
// ErrContentType. No Content-Type at all is a form: Rack parses the body of
// such a POST as one, and so does PHP code that reads php://input with
// parse_str. A form or multipart type naming a charset that is not
// ASCII-compatible is ErrContentType too.
func ClassifyBody(contentTypes []string) (BodyKind, MediaType, error) {
	switch len(contentTypes) {
	case 0:
		return FormBody, MediaType{}, nil
	case 1:
	default:
		return OpaqueBody, MediaType{}, ErrContentType
	}
	m, err := ParseContentType(contentTypes[0])
	if err != nil {
		return OpaqueBody, m, err
	}
	kind := OpaqueBody
	switch {
	case m.IsMultipart():
		kind = MultipartBody
	case m.IsURLEncodedForm():
		kind = FormBody
	default:
		return OpaqueBody, m, nil
	}
	if !m.FormCharset() {
		return kind, m, ErrContentType
	}
	return kind, m, nil
}

// ReadBody reads all of body, refusing more than limit bytes.
func ReadBody(body io.Reader, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, ErrMalformedBody
	}
	if int64(len(raw)) > limit {
		return nil, ErrBodyTooLarge
	}
	return raw, nil
}

// ReadSizedBody is ReadBody for a body whose sender declared its size
// (Content-Length; -1 when unknown): a body of that size is read into one
// buffer of it, not grown by doubling.
func ReadSizedBody(body io.Reader, size, limit int64) ([]byte, error) {
	if size <= 0 || size > limit {
		return ReadBody(body, limit)
	}
	lr := io.LimitReader(body, limit+1)
	raw := make([]byte, 0, size+1) // +1: the read that meets EOF needs room
	for {
		if len(raw) == cap(raw) {
			raw = append(raw, 0)[:len(raw)]
		}
		n, err := lr.Read(raw[len(raw):cap(raw)])
		raw = raw[:len(raw)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, ErrMalformedBody
		}
	}
	if int64(len(raw)) > limit {
		return nil, ErrBodyTooLarge
	}
	return raw, nil
}

// InspectForm refuses a form or multipart body that carries an
// access_token parameter or part, or that does not parse exactly one way.
func InspectForm(kind BodyKind, m MediaType, body []byte) error {
	switch kind {
	case FormBody:
		if HasAccessToken(string(body)) {
			return ErrSecondCredential
		}
		return nil
	case MultipartBody:
		return inspectMultipart(m, body)
	}
	return nil
}

// InspectBody applies the one-credential rule to the body of a request
// that carries one: ClassifyBody on its Content-Type lines, then a form or
// multipart body (or one without a Content-Type) is read whole, up to
// limit, and InspectForm'ed; a Content-Encoding on it is ErrEncodedBody (the
// gateway does not decode to inspect). read reports whether the body was
// read: raw then holds all of it, to hand on unchanged; an opaque body is
// not read and streams on.
func InspectBody(contentTypes, contentEncodings []string, body io.Reader, limit int64) (raw []byte, read bool, err error) {
	kind, m, err := ClassifyBody(contentTypes)
	if err != nil || kind == OpaqueBody {
		return nil, false, err
	}
	if len(contentEncodings) > 0 {
		return nil, false, ErrEncodedBody
	}
	if raw, err = ReadBody(body, limit); err != nil {
		return nil, false, err
	}
	return raw, true, InspectForm(kind, m, raw)
}
