package enforce

import (
	"errors"
	"testing"
)

var approved = map[string]string{"amount": "500", "currency": "USD"}

// TestBindingBodies holds the bodies an upstream parser could read as
// another transaction than the one approved: each is refused.
func TestBindingBodies(t *testing.T) {
	b := NewBinding([]string{"amount", "currency"})
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"same values as strings", `{"amount":"500","currency":"USD","memo":"rent"}`, true},
		{"amount as a number", `{"amount":500,"currency":"USD"}`, true},
		{"whitespace around", " \n{ \"amount\" : 500 , \"currency\" : \"USD\" }\r\n", true},
		{"escaped value", `{"amount":"\u0035\u0030\u0030","currency":"USD"}`, true},
		{"nested look-alike ignored", `{"amount":"500","currency":"USD","details":{"note":"x"}}`, true},
		{"ten times the amount", `{"amount":"5000","currency":"USD"}`, false},
		{"other currency", `{"amount":"500","currency":"EUR"}`, false},
		{"field missing", `{"amount":"500"}`, false},
		{"case-variant duplicate", `{"amount":"500","currency":"USD","Amount":"5000"}`, false},
		{"upper-case duplicate", `{"amount":"500","currency":"USD","AMOUNT":"5000"}`, false},
		{"long-s duplicate", `{"amount":"500","currency":"USD","\u017fum":"1","sum":"2"}`, false},
		{"first-wins duplicate", `{"amount":"5000","currency":"USD","amount":"500"}`, false},
		{"last-wins duplicate", `{"amount":"500","currency":"USD","amount":"5000"}`, false},
		{"escaped name duplicate", `{"amount":"500","currency":"USD","\u0061mount":"5000"}`, false},
		{"nested duplicate", `{"amount":"500","currency":"USD","x":{"a":1,"A":2}}`, false},
		{"amount as an object", `{"amount":{"v":500},"currency":"USD"}`, false},
		{"amount as an array", `{"amount":["500"],"currency":"USD"}`, false},
		{"amount true", `{"amount":true,"currency":"USD"}`, false},
		{"amount null", `{"amount":null,"currency":"USD"}`, false},
		{"number spelled differently", `{"amount":500.0,"currency":"USD"}`, false},
		{"number in exponent form", `{"amount":5e2,"currency":"USD"}`, false},
		{"negative zero trick", `{"amount":-500,"currency":"USD"}`, false},
		{"trailing second object", `{"amount":"500","currency":"USD"}{"amount":"5000"}`, false},
		{"trailing garbage", `{"amount":"500","currency":"USD"} &amount=5000`, false},
		{"array of objects", `[{"amount":"500","currency":"USD"}]`, false},
		{"form-encoded", `amount=500&currency=USD`, false},
		{"JSON with a form inside a string", `{"amount":"500","currency":"USD","memo":"x&amount=5000"}`, true},
		{"lone surrogate", `{"amount":"500","currency":"USD","memo":"\ud800"}`, false},
		{"invalid UTF-8", "{\"amount\":\"500\",\"currency\":\"USD\",\"memo\":\"\xff\"}", false},
		{"byte order mark", "\xef\xbb\xbf{\"amount\":\"500\",\"currency\":\"USD\"}", false},
		{"NUL-padded value", `{"amount":"500\u0000","currency":"USD"}`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.CheckBody([]byte(tc.body), approved)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckBody = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBindingMismatch) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestBindingMetadataEdgeValues: approved values that a loose comparison
// could match with non-strings.
func TestBindingMetadataEdgeValues(t *testing.T) {
	b := NewBinding([]string{"v"})
	for _, tc := range []struct {
		approved, body string
		ok             bool
	}{
		{"\x00", `{"v":{}}`, false},
		{"\x00", `{"v":[]}`, false},
		{"\x00", `{"v":true}`, false},
		{"\x00", `{"v":"\u0000"}`, true},
		{"", `{"v":null}`, false},
		{"", `{"v":""}`, true},
		{"true", `{"v":true}`, false},
		{"null", `{"v":null}`, false},
		{"500", `{"v":"500"}`, true},
	} {
		err := b.CheckBody([]byte(tc.body), map[string]string{"v": tc.approved})
		if tc.ok != (err == nil) {
			t.Errorf("approved %q, body %s: err %v, want ok %v", tc.approved, tc.body, err, tc.ok)
		}
	}
	if NewBinding([]string{"amount", "payee"}).CheckBody([]byte(`{"amount":"500","payee":"x"}`), approved) == nil {
		t.Error("a bound field absent from the grant's metadata matched")
	}
}

func TestBindingRequestHeaders(t *testing.T) {
	b := NewBinding([]string{"amount", "currency"})
	for _, tc := range []struct {
		name      string
		types     []string
		encodings []string
		query     string
		ok        bool
	}{
		{"json", []string{"application/json"}, nil, "", true},
		{"json utf-8", []string{"application/json; charset=utf-8"}, nil, "", true},
		{"json UTF-8 quoted", []string{`Application/JSON; charset="UTF-8"`}, nil, "", true},
		{"other query parameter", []string{"application/json"}, nil, "ref=1", true},
		{"no content type", nil, nil, "", false},
		{"two content types", []string{"application/json", "application/json"}, nil, "", false},
		{"form", []string{"application/x-www-form-urlencoded"}, nil, "", false},
		{"text", []string{"text/plain"}, nil, "", false},
		{"json-ish", []string{"application/vnd.api+json"}, nil, "", false},
		{"latin-1", []string{"application/json; charset=iso-8859-1"}, nil, "", false},
		{"utf-16", []string{"application/json; charset=utf-16"}, nil, "", false},
		{"other parameter", []string{"application/json; foo=bar"}, nil, "", false},
		{"unparseable", []string{"application/json; charset"}, nil, "", false},
		{"gzip", []string{"application/json"}, []string{"gzip"}, "", false},
		{"identity encoding", []string{"application/json"}, []string{"identity"}, "", false},
		{"bound field in the query", []string{"application/json"}, nil, "amount=5000", false},
		{"bound field in the query, other case", []string{"application/json"}, nil, "Amount=5000", false},
		{"bound field in the query, encoded", []string{"application/json"}, nil, "am%6Funt=5000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.CheckRequest(tc.types, tc.encodings, tc.query)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckRequest = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
