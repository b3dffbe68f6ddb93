package enforce

import (
	"errors"
	"mime"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// ErrBindingMismatch: a body that is not exactly the approved transaction.
// Every reason (content type, encoding, JSON that two parsers could read
// differently, a field missing or different) is this one error: the grant is
// spent and the client steps up again.
var ErrBindingMismatch = errors.New("enforce: body does not match the approved transaction")

// Binding is a route's transaction binding: the top-level JSON members of
// the body that must equal the metadata the grant was approved with.
type Binding struct {
	fields []string
	keys   []string // ParamKey of each field, to spot them in the query
}

// NewBinding binds the given fields; nil when there are none.
func NewBinding(fields []string) *Binding {
	if len(fields) == 0 {
		return nil
	}
	b := &Binding{fields: fields}
	for _, f := range fields {
		b.keys = append(b.keys, ParamKey(f))
	}
	return b
}

// CheckRequest refuses what makes the body's meaning depend on the parser
// before the body is read: a Content-Type other than one
// `application/json` (optionally `charset=utf-8`), any Content-Encoding,
// and a bound field also present in the query (frameworks that merge query
// and body parameters could read it from there).
func (b *Binding) CheckRequest(contentTypes, contentEncodings []string, rawQuery string) error {
	if len(contentEncodings) > 0 || len(contentTypes) != 1 {
		return ErrBindingMismatch
	}
	mt, params, err := mime.ParseMediaType(contentTypes[0])
	if err != nil || mt != "application/json" {
		return ErrBindingMismatch
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return ErrBindingMismatch
		}
	}
	if rawQuery != "" && HasParam(rawQuery, b.keys...) {
		return ErrBindingMismatch
	}
	return nil
}

// CheckBody reports whether body is one strict JSON object (see
// strictjson) in which every bound field is a string equal to the approved
// value, or a number written exactly as the approved value.
func (b *Binding) CheckBody(body []byte, approved map[string]string) error {
	members, err := strictjson.ParseObject(body)
	if err != nil {
		return ErrBindingMismatch
	}
	for _, f := range b.fields {
		want, ok := approved[f]
		if !ok {
			return ErrBindingMismatch
		}
		got, ok := members[f]
		if !ok {
			return ErrBindingMismatch
		}
		switch got.Kind {
		case strictjson.String:
			if got.Text != want {
				return ErrBindingMismatch
			}
		case strictjson.Number:
			if string(got.Raw) != want {
				return ErrBindingMismatch
			}
		default:
			return ErrBindingMismatch
		}
	}
	return nil
}
