package signals

import (
	"encoding/json"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
)

// Subject is a Subject Identifier (RFC 9493), or an SSF 1.0 complex
// subject. Members of a format's definition are checked; members of no
// format this package knows are kept by name only (Format), and such a
// subject reaches nothing.
type Subject struct {
	Format string
	// iss_sub (Issuer, Subject), jwt_id (Issuer, JTI).
	Issuer  string
	Subject string
	JTI     string
	// email, phone_number, opaque (ID), account and uri (URI), did (URL).
	Email string
	Phone string
	ID    string
	URI   string
	URL   string
	// Aliases are the identifiers of an aliases subject: the same
	// principal under several formats.
	Aliases []*Subject
	// Complex subjects (SSF 1.0 §3.3): the members this package acts on.
	// Other members (device, tenant, application, ...) narrow the subject
	// in ways the gateway cannot see; they are checked for form and
	// otherwise ignored, so an action reaches at least the principal
	// meant (never fewer sessions than the transmitter named).
	User    *Subject
	Session *Subject
}

// Formats of RFC 9493 §3 and SSF 1.0 §3.5, with the string members each
// requires.
var subjectFormats = map[string][]string{
	"account":           {"uri"},
	"email":             {"email"},
	"iss_sub":           {"iss", "sub"},
	"opaque":            {"id"},
	"phone_number":      {"phone_number"},
	"did":               {"url"},
	"uri":               {"uri"},
	"jwt_id":            {"iss", "jti"},
	"saml_assertion_id": {"issuer", "assertion_id"},
}

// maxSubjectValue bounds every member of a subject identifier.
const maxSubjectValue = 1024

// parseSubject reads a subject member's value: an object with a string
// format. depth guards complex and aliases nesting: a complex subject's
// members and an alias are simple identifiers (RFC 9493 §3.2.1 forbids
// nested aliases).
func parseSubject(v strictjson.Value, nested bool) (*Subject, error) {
	if v.Kind != strictjson.Object {
		return nil, ErrSubject
	}
	m, err := strictjson.ParseObject(v.Raw)
	if err != nil {
		return nil, ErrSubject
	}
	format, present, err := jose.String(m, "format")
	if err != nil || !present || format == "" || len(format) > maxSubjectValue {
		return nil, ErrSubject
	}
	s := &Subject{Format: format}
	switch format {
	case "complex":
		if nested {
			return nil, ErrSubject
		}
		return s, s.readComplex(m)
	case "aliases":
		if nested {
			return nil, ErrSubject
		}
		return s, s.readAliases(m)
	case "ip-addresses":
		ips, present, err := jose.StringArray(m, "ip-addresses")
		if err != nil || !present || len(ips) == 0 {
			return nil, ErrSubject
		}
		return s, nil
	}
	required, known := subjectFormats[format]
	if !known {
		return s, nil // a format agreed between other parties: reaches nothing here
	}
	values := map[string]string{}
	for _, name := range required {
		text, present, err := jose.String(m, name)
		if err != nil || !present || text == "" || len(text) > maxSubjectValue {
			return nil, ErrSubject
		}
		values[name] = text
	}
	s.Issuer, s.Subject, s.JTI = values["iss"], values["sub"], values["jti"]
	s.Email, s.Phone, s.ID = values["email"], values["phone_number"], values["id"]
	s.URI, s.URL = values["uri"], values["url"]
	if format == "saml_assertion_id" {
		s.Issuer = values["issuer"]
	}
	return s, nil
}

// readComplex reads a complex subject: at least one member besides
// format, each a simple subject identifier.
func (s *Subject) readComplex(m strictjson.Members) error {
	members := 0
	for name, v := range m {
		if name == "format" {
			continue
		}
		member, err := parseSubject(v, true)
		if err != nil {
			return err
		}
		members++
		switch name {
		case "user":
			s.User = member
		case "session":
			s.Session = member
		}
	}
	if members == 0 {
		return ErrSubject
	}
	return nil
}

// maxAliases bounds an aliases subject.
const maxAliases = 16

// readAliases reads an aliases subject: a non-empty array of simple
// identifiers.
func (s *Subject) readAliases(m strictjson.Members) error {
	v, ok := m["identifiers"]
	if !ok || v.Kind != strictjson.Array {
		return ErrSubject
	}
	items, err := objectArray(v.Raw)
	if err != nil || len(items) == 0 || len(items) > maxAliases {
		return ErrSubject
	}
	for _, item := range items {
		alias, err := parseSubject(item, true)
		if err != nil {
			return err
		}
		s.Aliases = append(s.Aliases, alias)
	}
	return nil
}

// objectArray splits a JSON array (checked strict as part of its
// document) into its values. encoding/json only splits it; each item is
// read again by the strict reader, as the one member of an object
// (strictjson exposes objects' members, not arrays' items).
func objectArray(raw []byte) ([]strictjson.Value, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	var out []strictjson.Value
	for _, item := range items {
		m, err := strictjson.ParseObject(append(append([]byte(`{"v":`), item...), '}'))
		if err != nil {
			return nil, err
		}
		out = append(out, m["v"])
	}
	return out, nil
}
