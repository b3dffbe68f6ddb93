package caddystepup

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBodyMatchesBindsTheTransaction(t *testing.T) {
	approved := map[string]string{"amount": "500", "currency": "USD"}
	for _, tc := range []struct {
		name, body string
		want       bool
	}{
		{"same values as strings", `{"amount":"500","currency":"USD","memo":"rent"}`, true},
		{"amount as a number", `{"amount":500,"currency":"USD"}`, true},
		{"ten times the amount", `{"amount":"5000","currency":"USD"}`, false},
		{"other currency", `{"amount":"500","currency":"EUR"}`, false},
		{"field missing", `{"amount":"500"}`, false},
		{"amount as an object", `{"amount":{"v":500},"currency":"USD"}`, false},
		{"not JSON", `amount=500&currency=USD`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/transfers", strings.NewReader(tc.body))
			if got := bodyMatches(r, []string{"amount", "currency"}, approved); got != tc.want {
				t.Fatalf("bodyMatches = %v, want %v", got, tc.want)
			}
			rest, _ := io.ReadAll(r.Body)
			if string(rest) != tc.body {
				t.Errorf("the upstream would get %q, want the body intact", rest)
			}
		})
	}
	r := httptest.NewRequest("POST", "/transfers", strings.NewReader(`{"amount":"500","currency":"USD"}`))
	if bodyMatches(r, []string{"amount", "payee"}, approved) {
		t.Error("a bound field absent from the grant's metadata matched")
	}
}
