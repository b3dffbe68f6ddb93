package jose

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// ErrMemberType: a registered member of the wrong JSON type (null included).
var ErrMemberType = errors.New("jose: member of the wrong type")

// String returns a member that must be a JSON string when present; null
// or any other type is an error rather than "absent".
func String(m strictjson.Members, name string) (value string, present bool, err error) {
	v, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if v.Kind != strictjson.String {
		return "", true, ErrMemberType
	}
	return v.Text, true, nil
}

// Strings returns a member that must be a string or an array of strings
// when present (RFC 7519's aud).
func Strings(m strictjson.Members, name string) ([]string, bool, error) {
	v, ok := m[name]
	if !ok {
		return nil, false, nil
	}
	switch v.Kind {
	case strictjson.String:
		return []string{v.Text}, true, nil
	case strictjson.Array:
		items, err := strictjson.StringArray(v.Raw)
		if err != nil {
			return nil, true, ErrMemberType
		}
		return items, true, nil
	}
	return nil, true, ErrMemberType
}

// StringArray returns a member that must be a JSON array of strings when
// present (OpenID Connect's amr): a lone string is an error, not a
// one-element array.
func StringArray(m strictjson.Members, name string) ([]string, bool, error) {
	v, ok := m[name]
	if !ok {
		return nil, false, nil
	}
	if v.Kind != strictjson.Array {
		return nil, true, ErrMemberType
	}
	items, err := strictjson.StringArray(v.Raw)
	if err != nil {
		return nil, true, ErrMemberType
	}
	return items, true, nil
}

// maxNumericDate bounds NumericDate values (about year 36800) so that
// conversions cannot overflow.
const maxNumericDate = 1 << 40

// NumericDate returns a member that must be an RFC 7519 NumericDate when
// present: a non-negative JSON number of seconds, possibly fractional.
func NumericDate(m strictjson.Members, name string) (time.Time, bool, error) {
	v, ok := m[name]
	if !ok {
		return time.Time{}, false, nil
	}
	if v.Kind != strictjson.Number || v.Raw[0] == '-' {
		return time.Time{}, true, ErrMemberType
	}
	f, err := strconv.ParseFloat(string(v.Raw), 64)
	if err != nil || math.IsNaN(f) || f > maxNumericDate {
		return time.Time{}, true, ErrMemberType
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}
