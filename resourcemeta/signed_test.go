package resourcemeta

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// TestUnsignedDocumentsAreByteForByteAsBefore: without Sign, a document is
// written exactly as it was before signed metadata existed.
func TestUnsignedDocumentsAreByteForByteAsBefore(t *testing.T) {
	rec, _ := get(t, testCatalog(), "GET", WellKnownPath+"/payments", Site{Name: "Payments"})
	want := `{"resource":"https://api.example.com/payments","authorization_servers":["https://idp.example.com","https://api.example.com"],` +
		`"scopes_supported":["payments:write","payments:read"],"bearer_methods_supported":["header"],"resource_name":"Payments",` +
		`"authorization_details_types_supported":["payment_initiation"],"dpop_signing_alg_values_supported":["ES256","EdDSA"],` +
		`"dpop_bound_access_tokens_required":true}`
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
}

// TestSignedMetadataClaimsAreTheDocumentsMembers: the claims of
// signed_metadata are exactly the plain members and iss; the plain members
// are unchanged; a signer that fails answers 503 and no document.
func TestSignedMetadataClaimsAreTheDocumentsMembers(t *testing.T) {
	var claims []byte
	sign := func(c any) (string, error) {
		var err error
		claims, err = json.Marshal(c)
		return "header.claims.signature", err
	}
	site := Site{Name: "Payments", Sign: func(d *Document) error { return Sign(d, "https://gw.example.com", sign) }}
	rec, doc := get(t, testCatalog(), "GET", WellKnownPath+"/payments", site)
	_, plain := get(t, testCatalog(), "GET", WellKnownPath+"/payments", Site{Name: "Payments"})
	if rec.Code != 200 || doc["signed_metadata"] != "header.claims.signature" {
		t.Fatalf("%d %v", rec.Code, doc)
	}
	delete(doc, "signed_metadata")
	if !reflect.DeepEqual(doc, plain) {
		t.Errorf("the plain members changed:\n%v\nwant\n%v", doc, plain)
	}
	var got map[string]any
	if err := json.Unmarshal(claims, &got); err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(plain)
	want["iss"] = "https://gw.example.com"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims\n%v\nwant\n%v", got, want)
	}

	if err := Sign(&Document{}, "", sign); err == nil {
		t.Error("signed without an issuer")
	}
	failing := Site{Sign: func(*Document) error { return errors.New("no key") }}
	rec, _ = get(t, testCatalog(), "GET", WellKnownPath+"/payments", failing)
	if rec.Code != 503 || strings.Contains(rec.Body.String(), "resource") {
		t.Errorf("a failing signer: %d %s", rec.Code, rec.Body)
	}
}
