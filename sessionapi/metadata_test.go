package sessionapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// TestParseMetadataIsStrict: the metadata a step-up is approved for is read
// so that no two parsers see different values in it.
func TestParseMetadataIsStrict(t *testing.T) {
	for raw, want := range map[string]map[string]string{
		``:                                  nil,
		`null`:                              nil,
		`{}`:                                {},
		`{"amount":"500","currency":"USD"}`: {"amount": "500", "currency": "USD"},
		`{"memo":"\u00e9"}`:                 {"memo": "é"},
	} {
		got, err := parseMetadata(json.RawMessage(raw))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, %v", raw, got, err)
		}
	}
	for _, raw := range []string{
		`{"amount":"500","amount":"5000"}`, `{"amount":"500","Amount":"5000"}`, `{"amount":500}`,
		`{"amount":null}`, `{"amount":{"v":"1"}}`, `{"amount":["1"]}`, `{"amount":true}`, `["x"]`, `"x"`,
		`{"memo":"\ud800"}`, `{"a":"1"} {}`,
	} {
		if _, err := parseMetadata(json.RawMessage(raw)); !errors.Is(err, stepup.ErrInvalidMetadata) {
			t.Errorf("%s: err %v, want invalid_metadata", raw, err)
		}
	}
}
