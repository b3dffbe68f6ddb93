package enforce

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// TestDetailsRequirementCheck refuses what a challenge cannot carry or a
// body cannot be read by, with the config word in the message.
func TestDetailsRequirementCheck(t *testing.T) {
	field := func(detail, body string) []DetailField { return []DetailField{{Detail: detail, Body: body}} }
	for _, tc := range []struct {
		req  DetailsRequirement
		want string // "" when accepted
	}{
		{DetailsRequirement{Type: "payment_initiation", Actions: []string{"initiate"}, Fields: field("instructedAmount.amount", "amount")}, ""},
		{DetailsRequirement{Type: "urn:example:x", Fields: field("a-b:c", "a-b:c")}, ""},
		{DetailsRequirement{}, "authorization_details: a type of 1 to 255"},
		{DetailsRequirement{Type: "has space"}, "authorization_details: a type of 1 to 255"},
		{DetailsRequirement{Type: strings.Repeat("t", 256)}, "authorization_details: a type of 1 to 255"},
		{DetailsRequirement{Type: "p", Actions: []string{`say"`}}, `authorization_details p: action "say"": 1 to 255`},
		{DetailsRequirement{Type: "p", Fields: field("a..b", "a")}, `authorization_details p: match "a..b": a dotted path`},
		{DetailsRequirement{Type: "p", Fields: field("a", "")}, `authorization_details p: match "": a dotted path`},
		{DetailsRequirement{Type: "p", Fields: field(strings.Repeat("x", 300), "a")}, `authorization_details p: match "` + strings.Repeat("x", 64) + `…": a dotted path`},
		{DetailsRequirement{Type: "p", Fields: field("locations", "to")}, "authorization_details p: match locations: the gateway checks it itself"},
	} {
		err := tc.req.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.req, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %s…", tc.req, err, tc.want)
		}
	}
}

// TestDetailTypes lists each type once, and the gateway's grants' type
// when the route binds.
func TestDetailTypes(t *testing.T) {
	reqs := []DetailsRequirement{{Type: "a"}, {Type: "b"}, {Type: "a"}}
	if got := DetailTypes(reqs, false); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("%v", got)
	}
	if got := DetailTypes(reqs[:1], true); !reflect.DeepEqual(got, []string{"a", stepup.GrantDetailsType}) {
		t.Fatalf("%v", got)
	}
	if got := DetailTypes(nil, false); got != nil {
		t.Fatalf("%v", got)
	}
}
