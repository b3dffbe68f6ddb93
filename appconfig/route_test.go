package appconfig

import (
	"reflect"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// TestIdentityHeadersDefaults: unnamed headers get the default names, named
// ones keep theirs, all in canonical form (they are set directly in the
// header map).
func TestIdentityHeadersDefaults(t *testing.T) {
	ih := &IdentityHeaders{Subject: "x-user", Grant: "X-GRANT-ID"}
	ih.SetDefaults()
	want := IdentityHeaders{Subject: "X-User", Scope: DefaultScopeHeader, Session: DefaultSessionHeader, Grant: "X-Grant-Id"}
	if *ih != want {
		t.Errorf("got %+v, want %+v", *ih, want)
	}
}

// TestDetailsRequirement: a match's body path defaults to its detail path.
func TestDetailsRequirement(t *testing.T) {
	dc := &DetailsConfig{Type: "payment_initiation", Actions: []string{"initiate"},
		Match: []DetailMatch{{Detail: "instructedAmount.amount", Body: "amount"}, {Detail: "creditorAccount.iban"}}}
	want := enforce.DetailsRequirement{Type: "payment_initiation", Actions: []string{"initiate"}, Fields: []enforce.DetailField{
		{Detail: "instructedAmount.amount", Body: "amount"}, {Detail: "creditorAccount.iban", Body: "creditorAccount.iban"}}}
	if got := dc.Requirement(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
