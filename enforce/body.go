package enforce

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"
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
	// ErrMalformedBody: a form body (or its Content-Type) that does not
	// parse, so that what an upstream reads from it can't be known.
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
	OpaqueBody    BodyKind = iota // not a form: streamed to the upstream as is
	FormBody                      // application/x-www-form-urlencoded
	MultipartBody                 // multipart/form-data
)

// ClassifyBody reads the request's Content-Type lines. More than one line
// is malformed: upstreams differ on which one wins.
func ClassifyBody(contentTypes []string) (BodyKind, error) {
	switch len(contentTypes) {
	case 0:
		return OpaqueBody, nil
	case 1:
	default:
		return OpaqueBody, ErrMalformedBody
	}
	// The media type is read leniently here (as the most lenient upstream
	// would): a form type with unparseable parameters is still a form, and
	// is then refused by the strict parse in InspectForm.
	base := contentTypes[0]
	if i := strings.IndexByte(base, ';'); i >= 0 {
		base = base[:i]
	}
	base = strings.ToLower(strings.TrimSpace(base))
	switch base {
	case "application/x-www-form-urlencoded":
		return FormBody, nil
	case "multipart/form-data":
		return MultipartBody, nil
	}
	return OpaqueBody, nil
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

// InspectForm refuses a form body that carries an access_token parameter
// or part, or that does not parse.
func InspectForm(kind BodyKind, contentType string, body []byte) error {
	switch kind {
	case FormBody:
		if HasAccessToken(string(body)) {
			return ErrSecondCredential
		}
		return nil
	case MultipartBody:
		return inspectMultipart(contentType, body)
	}
	return nil
}

func inspectMultipart(contentType string, body []byte) error {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return ErrMalformedBody
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ErrMalformedBody
		}
		name, err := partName(part.Header["Content-Disposition"])
		if err != nil {
			return err
		}
		if IsAccessTokenParam(name) {
			return ErrSecondCredential
		}
	}
}

// partName reads the name of a form-data part. RFC 2231 extended
// parameters (name*=) are refused: parsers disagree on whether name or
// name* wins, and RFC 7578 §4.2 has browsers never send them.
func partName(dispositions []string) (string, error) {
	switch len(dispositions) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", ErrMalformedBody
	}
	if strings.Contains(dispositions[0], "*=") || strings.Contains(dispositions[0], "*0") {
		return "", ErrMalformedBody
	}
	_, params, err := mime.ParseMediaType(dispositions[0])
	if err != nil {
		return "", ErrMalformedBody
	}
	return params["name"], nil
}
