package appconfig

import (
	"net/http"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// Default names of the identity headers passed to the upstream.
const (
	DefaultSubjectHeader = "X-Stepup-Sub"
	DefaultScopeHeader   = "X-Stepup-Scope"
	DefaultSessionHeader = "X-Stepup-Sid"
	DefaultGrantHeader   = "X-Stepup-Grant"
)

// IdentityHeaders names the request headers that tell the upstream who
// called. An empty name keeps the default.
type IdentityHeaders struct {
	// The token's subject (`sub`). Default: X-Stepup-Sub.
	Subject string `json:"subject,omitempty"`
	// The token's scopes, space-delimited. Default: X-Stepup-Scope.
	Scope string `json:"scope,omitempty"`
	// The session ID (`sid`). Default: X-Stepup-Sid.
	Session string `json:"session,omitempty"`
	// The ID of the single-use grant this request consumed.
	// Default: X-Stepup-Grant.
	Grant string `json:"grant,omitempty"`
}

// SetDefaults names the headers left unnamed, in canonical form.
func (ih *IdentityHeaders) SetDefaults() {
	if ih.Subject == "" {
		ih.Subject = DefaultSubjectHeader
	}
	if ih.Scope == "" {
		ih.Scope = DefaultScopeHeader
	}
	if ih.Session == "" {
		ih.Session = DefaultSessionHeader
	}
	if ih.Grant == "" {
		ih.Grant = DefaultGrantHeader
	}
	// Set directly in the header map on the hot path: keep them canonical.
	ih.Subject = http.CanonicalHeaderKey(ih.Subject)
	ih.Scope = http.CanonicalHeaderKey(ih.Scope)
	ih.Session = http.CanonicalHeaderKey(ih.Session)
	ih.Grant = http.CanonicalHeaderKey(ih.Grant)
}

// DetailsConfig requires an authorization_details entry (RFC 9396) of a
// type in the request's access token, whose fields equal the request's
// JSON body, e.g. a `payment_initiation` entry whose
// `instructedAmount.amount` is the body's `amount`. The body is read as
// `bind` reads it: one `application/json` object every parser reads alike.
type DetailsConfig struct {
	// The entry's `type`, compared exactly. Required.
	Type string `json:"type,omitempty"`
	// Values the entry's `actions` must all include. Default: none
	// (`actions` not read).
	Actions []string `json:"actions,omitempty"`
	// Members of the entry that must equal members of the body.
	// Default: none (an entry of the type is enough).
	Match []DetailMatch `json:"match,omitempty"`
}

// DetailMatch pairs a member of the entry with a member of the body, each
// a dotted path through nested objects.
type DetailMatch struct {
	// The entry's member, e.g. `instructedAmount.amount`.
	Detail string `json:"detail,omitempty"`
	// The body's member, e.g. `amount`. Default: the same path as Detail.
	Body string `json:"body,omitempty"`
}

// Requirement is the block as enforce takes it: a match's body path
// defaults to its detail path.
func (dc *DetailsConfig) Requirement() enforce.DetailsRequirement {
	req := enforce.DetailsRequirement{Type: dc.Type, Actions: dc.Actions}
	for _, m := range dc.Match {
		body := m.Body
		if body == "" {
			body = m.Detail
		}
		req.Fields = append(req.Fields, enforce.DetailField{Detail: m.Detail, Body: body})
	}
	return req
}
