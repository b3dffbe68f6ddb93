package enforce

import (
	"errors"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/bodycases"
)

var approved = bodycases.Approved

// TestBindingBodies runs the JSON bodies an upstream parser could read as
// another transaction than the one approved: each is refused, and the
// approved one passes however it is written.
func TestBindingBodies(t *testing.T) {
	b := NewBinding([]string{"amount", "currency"})
	for _, tc := range bodycases.JSONBodies {
		t.Run(tc.Name, func(t *testing.T) {
			err := b.CheckBody([]byte(tc.Body), "transfer:write", approved, "https://api.example.com")
			if tc.Match != (err == nil) {
				t.Fatalf("CheckBody = %v, want ok %v", err, tc.Match)
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
		err := b.CheckBody([]byte(tc.body), "s", map[string]string{"v": tc.approved}, "https://api.example.com")
		if tc.ok != (err == nil) {
			t.Errorf("approved %q, body %s: err %v, want ok %v", tc.approved, tc.body, err, tc.ok)
		}
	}
	if NewBinding([]string{"amount", "payee"}).CheckBody([]byte(`{"amount":"500","payee":"x"}`), "s", approved, "https://api.example.com") == nil {
		t.Error("a bound field absent from the grant's metadata matched")
	}
}

func TestBindingRequestHeaders(t *testing.T) {
	b := NewBinding([]string{"amount", "currency"})
	for _, tc := range bodycases.JSONRequests {
		t.Run(tc.Name, func(t *testing.T) {
			err := b.CheckRequest(tc.ContentTypes, tc.Encodings, tc.Query)
			if tc.Match != (err == nil) {
				t.Fatalf("CheckRequest = %v, want ok %v", err, tc.Match)
			}
		})
	}
}

// A grant stepped up for a resource serves that resource only.
func TestBindingLocations(t *testing.T) {
	b := NewBinding([]string{"amount"})
	md := map[string]string{"amount": "500", "resource": "https://api.example.com/transfers"}
	body := []byte(`{"amount":"500"}`)
	if err := b.CheckBody(body, "s", md, "https://api.example.com/transfers"); err != nil {
		t.Errorf("at its resource: %v", err)
	}
	if err := b.CheckBody(body, "s", md, "https://api.example.com/payments"); err == nil {
		t.Error("a grant for /transfers served /payments")
	}
}
