package enforce

import (
	"encoding/json"
	"errors"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// ErrBindingMismatch: a body that is not exactly the approved transaction.
// Every reason (content type, encoding, JSON that two parsers could read
// differently, a field missing or different) is this one error: the grant is
// spent and the client steps up again.
var ErrBindingMismatch = errors.New("enforce: body does not match the approved transaction")

// Binding is a route's transaction binding: the top-level JSON members of
// the body that must equal the metadata the grant was approved with. It is
// the authorization details matcher (Details) over the grant's own entry
// (stepup.GrantDetails): `bind amount` requires an entry of type
// urn:stepup:transaction whose transaction.amount is the body's amount.
type Binding struct {
	details *Details
}

// NewBinding binds the given fields; nil when there are none.
func NewBinding(fields []string) *Binding {
	if len(fields) == 0 {
		return nil
	}
	req := DetailsRequirement{Type: stepup.GrantDetailsType}
	for _, f := range fields {
		req.Fields = append(req.Fields, DetailField{Detail: "transaction." + f, Body: f})
	}
	return &Binding{details: NewDetails([]DetailsRequirement{req})}
}

// CheckRequest refuses what makes the body's meaning depend on the parser
// before the body is read (Details.CheckRequest).
func (b *Binding) CheckRequest(contentTypes, contentEncodings []string, rawQuery string) error {
	if b.details.CheckRequest(contentTypes, contentEncodings, rawQuery) != nil {
		return ErrBindingMismatch
	}
	return nil
}

// CheckBody reports whether body is one strict JSON object (see
// strictjson) in which every bound field is a string equal to the approved
// value, or a number written exactly as the approved value: whether the
// entry of the grant of scope approved with metadata covers it at
// location (the route's resource).
func (b *Binding) CheckBody(body []byte, scope string, approved map[string]string, location string) error {
	fields, err := b.details.ReadBody(body)
	if err != nil {
		return ErrBindingMismatch
	}
	entry, err := json.Marshal(stepup.NewGrantDetails(scope, approved))
	if err != nil {
		return ErrBindingMismatch
	}
	members, err := strictjson.ParseObject(entry)
	if err != nil || !b.details.Covered([]strictjson.Members{members}, fields, location) {
		return ErrBindingMismatch
	}
	return nil
}
