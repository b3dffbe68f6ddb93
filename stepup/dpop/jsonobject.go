package dpop

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// object is one JSON object with its members left raw, so that members are
// looked up by their exact, case-sensitive names (encoding/json struct
// decoding would match "HTM" to htm).
type object map[string]json.RawMessage

var errNotObject = errors.New("not a JSON object without duplicate members")

// parseObject decodes a single JSON object and rejects duplicate member
// names: two parsers picking different duplicates is how verification
// confusion starts.
func parseObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotObject
	}
	obj := object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errNotObject
		}
		if _, dup := obj[name]; dup {
			return nil, errNotObject
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errNotObject
		}
		obj[name] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return obj, nil
}

// has reports whether the member is present, whatever its value.
func (o object) has(name string) bool {
	_, ok := o[name]
	return ok
}

// str returns a member that must be a JSON string when present. null or any
// other type is an error rather than "absent".
func (o object) str(name string) (value string, present bool, err error) {
	raw, ok := o[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, errNotObject
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, errNotObject
	}
	return value, true, nil
}

// number returns a member that must be a non-negative JSON number.
func (o object) number(name string) (value float64, present bool, err error) {
	raw, ok := o[name]
	if !ok {
		return 0, false, nil
	}
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return 0, true, errNotObject
	}
	value, err = strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, true, errNotObject
	}
	return value, true, nil
}
