// RFC 9396 authorization details at the resource: what a route requires
// of a token's authorization_details, matched against the request's JSON
// body read strictly (the reading of transaction binding, which is this
// matcher over the grant's own entry).

package enforce

import (
	"encoding/json"
	"errors"
	"mime"
	"slices"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
)

// DetailsRequirement is what a route requires of a token: an
// authorization_details entry of Type whose actions include Actions and
// whose Fields equal the request body's.
type DetailsRequirement struct {
	Type    string
	Actions []string
	Fields  []DetailField
}

// DetailField pairs a member of the detail with a member of the JSON body,
// each a dotted path through nested objects (`instructedAmount.amount`).
type DetailField struct {
	Detail, Body string
}

// Errors of the matcher.
var (
	// ErrBodyUnfit: the request is not one strict JSON object holding
	// each field a requirement reads as a string or number, under a
	// Content-Type every parser reads as JSON (see CheckJSONRequest).
	ErrBodyUnfit = errors.New("enforce: the body is not a JSON object every parser reads alike, with the fields the route reads")
	// ErrDetailsMalformed: the token's authorization_details claim is not
	// an array of objects every parser reads alike.
	ErrDetailsMalformed = errors.New("enforce: the token's authorization_details are malformed")
)

// Details matches requests against a route's requirements.
type Details struct {
	reqs []DetailsRequirement
	// keys are the body's top-level names the fields read (ParamKey), to
	// spot them in the query.
	keys []string
}

// NewDetails builds the matcher; nil when there is no requirement.
func NewDetails(reqs []DetailsRequirement) *Details {
	if len(reqs) == 0 {
		return nil
	}
	d := &Details{reqs: reqs}
	for _, r := range reqs {
		for _, f := range r.Fields {
			top, _, _ := strings.Cut(f.Body, ".")
			if k := ParamKey(top); !slices.Contains(d.keys, k) {
				d.keys = append(d.keys, k)
			}
		}
	}
	return d
}

// Types are the authorization_details types the requirements name.
func (d *Details) Types() []string {
	var out []string
	for _, r := range d.reqs {
		if !slices.Contains(out, r.Type) {
			out = append(out, r.Type)
		}
	}
	return out
}

// CheckRequest refuses what makes the body's meaning depend on the parser
// before it is read: a Content-Type other than one `application/json`
// (optionally `charset=utf-8`), any Content-Encoding, and a member the
// route reads also present in the query (frameworks that merge query and
// body parameters could read it from there).
func (d *Details) CheckRequest(contentTypes, contentEncodings []string, rawQuery string) error {
	return checkJSONRequest(contentTypes, contentEncodings, rawQuery, d.keys)
}

func checkJSONRequest(contentTypes, contentEncodings []string, rawQuery string, keys []string) error {
	if len(contentEncodings) > 0 || len(contentTypes) != 1 {
		return ErrBodyUnfit
	}
	mt, params, err := mime.ParseMediaType(contentTypes[0])
	if err != nil || mt != "application/json" {
		return ErrBodyUnfit
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return ErrBodyUnfit
		}
	}
	if rawQuery != "" && HasParam(rawQuery, keys...) {
		return ErrBodyUnfit
	}
	return nil
}

// BodyFields are the values a route's fields read from one body, by body
// path: strings and numbers only.
type BodyFields map[string]strictjson.Value

// ReadBody reads body as one strict JSON object (see strictjson) and picks
// the fields the requirements read; each must be a string or a number.
func (d *Details) ReadBody(body []byte) (BodyFields, error) {
	members, err := strictjson.ParseObject(body)
	if err != nil {
		return nil, ErrBodyUnfit
	}
	out := BodyFields{}
	for _, r := range d.reqs {
		for _, f := range r.Fields {
			v, ok := lookup(members, f.Body)
			if !ok || (v.Kind != strictjson.String && v.Kind != strictjson.Number) {
				return nil, ErrBodyUnfit
			}
			out[f.Body] = v
		}
	}
	return out, nil
}

// lookup follows a dotted path through nested objects.
func lookup(members strictjson.Members, path string) (strictjson.Value, bool) {
	for {
		name, rest, nested := strings.Cut(path, ".")
		v, ok := members[name]
		if !ok || !nested {
			return v, ok
		}
		if v.Kind != strictjson.Object {
			return strictjson.Value{}, false
		}
		var err error
		if members, err = strictjson.ParseObject(v.Raw); err != nil {
			return strictjson.Value{}, false
		}
		path = rest
	}
}

// text is what a scalar says: a string's decoded text, a number as
// written. Two values match when their texts are equal: `500` matches
// "500", never `500.0` or `5e2`.
func text(v strictjson.Value) (string, bool) {
	switch v.Kind {
	case strictjson.String:
		return v.Text, true
	case strictjson.Number:
		return string(v.Raw), true
	}
	return "", false
}

// ParseDetails reads the authorization_details claim of a token's claims
// (raw, the payload as signed): absent is none; else an array of objects.
func ParseDetails(rawClaims []byte) ([]strictjson.Members, error) {
	claims, err := strictjson.ParseObject(rawClaims)
	if err != nil {
		return nil, ErrDetailsMalformed
	}
	v, ok := claims["authorization_details"]
	if !ok {
		return nil, nil
	}
	if v.Kind != strictjson.Array {
		return nil, ErrDetailsMalformed
	}
	elems, err := strictjson.ParseArray(v.Raw)
	if err != nil {
		return nil, ErrDetailsMalformed
	}
	out := make([]strictjson.Members, 0, len(elems))
	for _, e := range elems {
		if e.Kind != strictjson.Object {
			return nil, ErrDetailsMalformed
		}
		m, err := strictjson.ParseObject(e.Raw)
		if err != nil {
			return nil, ErrDetailsMalformed
		}
		out = append(out, m)
	}
	return out, nil
}

// Covered reports whether every requirement is met by some entry, for a
// request whose body holds fields, at the resource location (RFC 9396
// §2.2: an entry naming locations must name this one).
func (d *Details) Covered(entries []strictjson.Members, fields BodyFields, location string) bool {
	for _, r := range d.reqs {
		if !slices.ContainsFunc(entries, func(e strictjson.Members) bool { return r.metBy(e, fields, location) }) {
			return false
		}
	}
	return true
}

func (r *DetailsRequirement) metBy(e strictjson.Members, fields BodyFields, location string) bool {
	if t, ok := e["type"]; !ok || t.Kind != strictjson.String || t.Text != r.Type {
		return false
	}
	if len(r.Actions) > 0 {
		actions, ok := stringArray(e, "actions")
		if !ok || !containsAll(actions, r.Actions) {
			return false
		}
	}
	if _, named := e["locations"]; named {
		locations, ok := stringArray(e, "locations")
		if !ok || !slices.ContainsFunc(locations, func(l string) bool { return resourcemeta.Same(l, location) }) {
			return false
		}
	}
	for _, f := range r.Fields {
		want, ok := lookup(e, f.Detail)
		if !ok {
			return false
		}
		wantText, ok1 := text(want)
		gotText, ok2 := text(fields[f.Body])
		if !ok1 || !ok2 || wantText != gotText {
			return false
		}
	}
	return true
}

func stringArray(e strictjson.Members, name string) ([]string, bool) {
	v := e[name]
	if v.Kind != strictjson.Array {
		return nil, false
	}
	out, err := strictjson.StringArray(v.Raw)
	return out, err == nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// Remediation is what a token needs for this request: one entry per
// requirement, its fields set to the body's values (strings as strings,
// numbers as written), its actions, and the resource as its location when
// the route names one. A client puts them in its next authorization
// request (RFC 9396 §2).
func (d *Details) Remediation(fields BodyFields, resource string) []map[string]any {
	out := make([]map[string]any, 0, len(d.reqs))
	for _, r := range d.reqs {
		entry := map[string]any{"type": r.Type}
		if len(r.Actions) > 0 {
			entry["actions"] = r.Actions
		}
		if resource != "" {
			entry["locations"] = []string{resource}
		}
		for _, f := range r.Fields {
			v := fields[f.Body]
			var value any = v.Text
			if v.Kind == strictjson.Number {
				value = json.RawMessage(v.Raw)
			}
			setPath(entry, f.Detail, value)
		}
		out = append(out, entry)
	}
	return out
}

// setPath sets a dotted path in nested maps, making the objects on its way.
func setPath(m map[string]any, path string, v any) {
	for {
		name, rest, nested := strings.Cut(path, ".")
		if !nested {
			m[name] = v
			return
		}
		next, ok := m[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[name] = next
		}
		m, path = next, rest
	}
}
