package appconfig

import (
	"reflect"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/enforce"
)

// TestScopeCatalogue: blocked scopes can be stepped up but not granted;
// a scope's acr is its own, else its passkey step's (the hardware one
// first), else the login's.
func TestScopeCatalogue(t *testing.T) {
	c := &Config{Passkey: &PasskeyConfig{ACR: "phr", HardwareACR: "phrh"}, Scopes: map[string]*Scope{
		"pay":     {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_passkey"}}}},
		"sms":     {Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_sms"}}}},
		"pay:own": {ACR: "urn:x", Direct: &DirectScope{Steps: []DirectStep{{Key: "verify_passkey"}}}},
		"hook":    {Delegated: "https://b.test/hook"},
		"admin":   {Block: true},
		"nil":     nil,
	}}
	want := enforce.Catalogue{
		"pay":     {Grantable: true, ACR: []string{"phrh", "phr"}},
		"sms":     {Grantable: true, ACR: []string{"urn:l"}},
		"pay:own": {Grantable: true, ACR: []string{"urn:x"}},
		"hook":    {Grantable: true, ACR: []string{"urn:l"}},
		"admin":   {ACR: []string{"urn:l"}},
		"nil":     {},
	}
	if got := c.ScopeCatalogue("urn:l"); !reflect.DeepEqual(got, want) {
		t.Errorf("catalogue:\n got %+v\nwant %+v", got, want)
	}
	// A passkey block without an acr of its own: the hardware acr, then the login's.
	c.Passkey.ACR = ""
	if got := c.ScopeCatalogue("urn:l")["pay"].ACR; !reflect.DeepEqual(got, []string{"phrh", "urn:l"}) {
		t.Errorf("pay without a passkey acr: %v", got)
	}
}
