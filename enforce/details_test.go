package enforce

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/bodycases"
	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
)

// paymentRequirement is the example: a payment_initiation detail
// whose instructedAmount and creditorAccount equal the body's amount,
// currency and iban, and whose actions include initiate.
var paymentRequirement = DetailsRequirement{Type: "payment_initiation", Actions: []string{"initiate"}, Fields: []DetailField{
	{Detail: "instructedAmount.amount", Body: "amount"},
	{Detail: "instructedAmount.currency", Body: "currency"},
}}

const paymentLocation = "https://api.example.com/payments"

// claimsWith is a token payload whose authorization_details are details.
func claimsWith(details string) []byte {
	return []byte(`{"iss":"https://idp.test","sub":"alice","authorization_details":` + details + `}`)
}

const approvedPayment = `[{"type":"payment_initiation","actions":["initiate","status"],"locations":["https://api.example.com/payments"],
	"instructedAmount":{"amount":"500","currency":"USD"},"creditorAccount":{"iban":"DE02120300000000202051"}}]`

// covers runs the whole matcher: request, body, token.
func covers(t *testing.T, d *Details, claims []byte, body string, location string) (bool, error) {
	t.Helper()
	fields, err := d.ReadBody([]byte(body))
	if err != nil {
		return false, err
	}
	entries, err := ParseDetails(claims)
	if err != nil {
		return false, err
	}
	return d.Covered(entries, fields, location), nil
}

// TestDetailsRunTheBindingCases: the bodies transaction binding is tested
// with mean the same to the authorization details matcher.
func TestDetailsRunTheBindingCases(t *testing.T) {
	d := NewDetails([]DetailsRequirement{paymentRequirement})
	for _, tc := range bodycases.JSONBodies {
		t.Run(tc.Name, func(t *testing.T) {
			ok, err := covers(t, d, claimsWith(approvedPayment), tc.Body, paymentLocation)
			if tc.Match != (ok && err == nil) {
				t.Fatalf("covered %v, err %v, want %v", ok, err, tc.Match)
			}
			// A body that is not the transaction is unfit whatever the
			// token: no token could cover it, or another one could.
			if !tc.Match && err != nil && !errors.Is(err, ErrBodyUnfit) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	for _, tc := range bodycases.JSONRequests {
		t.Run(tc.Name, func(t *testing.T) {
			if err := d.CheckRequest(tc.ContentTypes, tc.Encodings, tc.Query); tc.Match != (err == nil) {
				t.Fatalf("CheckRequest = %v, want ok %v", err, tc.Match)
			}
		})
	}
}

// TestDetailsEntries: what an entry must say, and how its values compare.
func TestDetailsEntries(t *testing.T) {
	d := NewDetails([]DetailsRequirement{paymentRequirement})
	body := `{"amount":"500","currency":"USD"}`
	entry := func(s string) []byte { return claimsWith(`[` + s + `]`) }
	for _, tc := range []struct {
		name   string
		claims []byte
		ok     bool
	}{
		{"the approved payment", claimsWith(approvedPayment), true},
		{"among other entries", claimsWith(`[{"type":"account_information"},` + approvedPayment[1:]), true},
		{"amount as a number", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"amount":500,"currency":"USD"}}`), true},
		{"no locations: any resource", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"amount":"500","currency":"USD"}}`), true},
		{"the location with its slash", entry(`{"type":"payment_initiation","actions":["initiate"],"locations":["https://api.example.com/payments"],"instructedAmount":{"amount":"500","currency":"USD"}}`), true},
		{"another location", entry(`{"type":"payment_initiation","actions":["initiate"],"locations":["https://api.example.com/other"],"instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"locations not strings", entry(`{"type":"payment_initiation","actions":["initiate"],"locations":[1],"instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"locations a string", entry(`{"type":"payment_initiation","actions":["initiate"],"locations":"https://api.example.com/payments","instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"another type", entry(`{"type":"payment_initiation2","actions":["initiate"],"instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"type in capitals", entry(`{"type":"PAYMENT_INITIATION","actions":["initiate"],"instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"no actions", entry(`{"type":"payment_initiation","instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"other actions", entry(`{"type":"payment_initiation","actions":["status"],"instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"actions a string", entry(`{"type":"payment_initiation","actions":"initiate","instructedAmount":{"amount":"500","currency":"USD"}}`), false},
		{"another amount", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"amount":"5000","currency":"USD"}}`), false},
		{"amount written otherwise", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"amount":"500.00","currency":"USD"}}`), false},
		{"amount missing", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"currency":"USD"}}`), false},
		{"amount at the top", entry(`{"type":"payment_initiation","actions":["initiate"],"amount":"500","currency":"USD"}`), false},
		{"amount an object", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"amount":{"v":"500"},"currency":"USD"}}`), false},
		{"instructedAmount not an object", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":"500 USD"}`), false},
		{"two entries making one", entry(`{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"amount":"500"}},{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"currency":"USD"}}`), false},
		{"no authorization_details", []byte(`{"sub":"alice"}`), false},
		{"empty authorization_details", claimsWith(`[]`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := covers(t, d, tc.claims, body, paymentLocation)
			if err != nil || ok != tc.ok {
				t.Fatalf("covered %v, err %v, want %v", ok, err, tc.ok)
			}
		})
	}
	for _, bad := range []string{`{"type":"payment_initiation"}`, `"payment_initiation"`, `[1]`, `["x"]`, `[{"type":"a","Type":"b"}]`, `[{"type":"a"}`} {
		if _, err := ParseDetails(claimsWith(bad)); !errors.Is(err, ErrDetailsMalformed) {
			t.Errorf("authorization_details %s: %v", bad, err)
		}
	}
	if _, err := ParseDetails([]byte(`{"authorization_details":[],"Authorization_Details":[{"type":"x"}]}`)); !errors.Is(err, ErrDetailsMalformed) {
		t.Error("a case-variant second claim was read")
	}
}

// TestDetailsNestedBodyPaths: body paths reach into objects, strictly.
func TestDetailsNestedBodyPaths(t *testing.T) {
	d := NewDetails([]DetailsRequirement{{Type: "payment_initiation", Fields: []DetailField{
		{Detail: "creditorAccount.iban", Body: "creditor.iban"},
	}}})
	claims := claimsWith(`[{"type":"payment_initiation","creditorAccount":{"iban":"DE02"}}]`)
	for body, want := range map[string]bool{
		`{"creditor":{"iban":"DE02"}}`:               true,
		`{"creditor":{"iban":"DE03"}}`:               false,
		`{"creditor":{"iban":"DE02","IBAN":"DE03"}}`: false,
		`{"creditor":"DE02"}`:                        false,
		`{"creditor.iban":"DE02"}`:                   false,
	} {
		ok, err := covers(t, d, claims, body, paymentLocation)
		if (ok && err == nil) != want {
			t.Errorf("%s: covered %v, err %v, want %v", body, ok, err, want)
		}
	}
	if err := d.CheckRequest([]string{"application/json"}, nil, "creditor[iban]=DE03"); err == nil {
		t.Error("the body's top-level member in the query passed")
	}
}

// TestDetailsRemediation: the entries a token needs for the request, built
// from the body as the route reads it.
func TestDetailsRemediation(t *testing.T) {
	d := NewDetails([]DetailsRequirement{paymentRequirement, {Type: "account_information"}})
	fields, err := d.ReadBody([]byte(`{"amount":500,"currency":"USD","memo":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(d.Remediation(fields, paymentLocation))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"actions":["initiate"],"instructedAmount":{"amount":500,"currency":"USD"},"locations":["https://api.example.com/payments"],"type":"payment_initiation"},` +
		`{"locations":["https://api.example.com/payments"],"type":"account_information"}]`
	if string(got) != want {
		t.Errorf("remediation\n%s\nwant\n%s", got, want)
	}
	// What it names covers the request it was built from.
	entries, err := strictjson.ParseArray(got)
	if err != nil {
		t.Fatal(err)
	}
	var members []strictjson.Members
	for _, e := range entries {
		m, _ := strictjson.ParseObject(e.Raw)
		members = append(members, m)
	}
	if !d.Covered(members, fields, paymentLocation) {
		t.Error("the remediation does not cover its own request")
	}
	if types := d.Types(); !reflect.DeepEqual(types, []string{"payment_initiation", "account_information"}) {
		t.Errorf("types %v", types)
	}
}
