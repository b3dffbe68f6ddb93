package dpop

import (
	"errors"
	"strconv"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// object is one JSON object read strictly (internal/strictjson: one object,
// valid UTF-8, no duplicate or case-fold-equal member names), so that
// members are looked up by their exact names and no two parsers can read
// the proof differently.
type object strictjson.Members

var errNotObject = errors.New("not a JSON object without duplicate members")

func parseObject(data []byte) (object, error) {
	m, err := strictjson.ParseObject(data)
	if err != nil {
		return nil, errNotObject
	}
	return object(m), nil
}

// has reports whether the member is present, whatever its value.
func (o object) has(name string) bool {
	_, ok := o[name]
	return ok
}

// raw is a member's bytes as written.
func (o object) raw(name string) ([]byte, bool) {
	v, ok := o[name]
	return v.Raw, ok
}

// str returns a member that must be a JSON string when present. null or any
// other type is an error rather than "absent".
func (o object) str(name string) (value string, present bool, err error) {
	v, ok := o[name]
	if !ok {
		return "", false, nil
	}
	if v.Kind != strictjson.String {
		return "", true, errNotObject
	}
	return v.Text, true, nil
}

// number returns a member that must be a non-negative JSON number.
func (o object) number(name string) (value float64, present bool, err error) {
	v, ok := o[name]
	if !ok {
		return 0, false, nil
	}
	if v.Kind != strictjson.Number || v.Raw[0] == '-' {
		return 0, true, errNotObject
	}
	value, err = strconv.ParseFloat(string(v.Raw), 64)
	if err != nil {
		return 0, true, errNotObject
	}
	return value, true, nil
}
