package adminapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/apierror"
)

// TestBodiesAreReadStrictly: Prelude's bodies with their exact member
// names and shapes are read; anything another parser could read another
// way, a placeholder, a control character or a member of another name is
// a 400 that quotes only what was posted, and never Go's types.
func TestBodiesAreReadStrictly(t *testing.T) {
	b, err := ReadStepUp([]byte(`{"jwks_url":"https://b.test/jwks","step_keys":[{"key":"kyc","description":"KYC"}],` +
		`"allowed_scopes":[{"scope":"pay","mode":"direct","direct":{"granted_for":60,"grant_mode":"single-use","steps":[{"order":1,"key":"verify_sms","expiration_duration":300}]}}]}`))
	if err != nil || b.JWKSURL != "https://b.test/jwks" || b.StepKeys[0].Key != "kyc" || b.AllowedScopes[0].Direct.Steps[0].ExpirationDuration != 300 {
		t.Fatalf("a valid body: %+v %v", b, err)
	}
	if scope, err := ReadScope([]byte(`{"scope":"pay:write"}`)); err != nil || scope != "pay:write" {
		t.Fatalf("a scope: %q %v", scope, err)
	}
	p, err := ReadPasskey([]byte(`{"rp_id":"example.com","rp_name":"Example","allowed_origins":["https://example.com"],"login_enabled":true}`))
	if err != nil || p.RPID != "example.com" || !p.LoginEnabled {
		t.Fatalf("a passkey body: %+v %v", p, err)
	}
	for name, tc := range map[string]struct {
		read func([]byte) error
		body string
		want string
	}{
		"not JSON":                 {stepUp, `jwks_url=x`, "not one JSON object"},
		"two objects":              {stepUp, `{} {}`, "not one JSON object"},
		"a member twice":           {stepUp, `{"jwks_url":"a","jwks_url":"b"}`, "not one JSON object"},
		"a name of another case":   {stepUp, `{"JWKS_URL":"https://b.test/"}`, `"JWKS_URL": unknown member`},
		"an unknown member":        {stepUp, `{"allowed_scopes":[{"scope":"a","mode":"block","ttl":1}]}`, `"allowed_scopes[0].ttl": unknown member`},
		"a placeholder":            {stepUp, `{"jwks_url":"{env.HOME}"}`, "holds { or }"},
		"an escaped brace":         {stepUp, `{"jwks_url":"\u007benv.HOME\u007d"}`, "holds { or }"},
		"a control character":      {stepUp, `{"jwks_url":"a\u0000b"}`, "control character"},
		"a number for a string":    {stepUp, `{"jwks_url":5}`, "jwks_url is not a string"},
		"a string for a number":    {stepUp, `{"allowed_scopes":[{"direct":{"granted_for":"60"}}]}`, "is not a whole number"},
		"a scope with a space":     {scope, `{"scope":"a b"}`, "is not made of letters"},
		"passkey without rp_name":  {passkey, `{"rp_id":"example.com","allowed_origins":["https://example.com"]}`, "required"},
		"passkey granting a scope": {passkey, `{"rp_id":"e.com","rp_name":"E","allowed_origins":["https://e.com"],"granted_scopes":["admin"]}`, "granted_scopes"},
		"passkey of another call":  {passkey, `{"rp_id":"e.com","rp_name":"E","allowed_origins":["https://e.com"],"jwks_url":"x"}`, "unknown member"},
	} {
		err := tc.read([]byte(tc.body))
		var e *Error
		if !errors.As(err, &e) || e.Kind != apierror.BadRequest || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %v, want a bad request saying %q", name, err, tc.want)
		} else if strings.Contains(e.Message, "int") || strings.Contains(e.Message, "main.") || strings.Contains(e.Message, "adminapi") {
			t.Errorf("%s: the message names Go's types: %s", name, e.Message)
		}
	}
	long := strings.Repeat("é", 150) // 300 bytes
	if q := Quote(long); !strings.HasSuffix(q, `…"`) || len(q) > 210 || strings.ContainsRune(q, '\uFFFD') {
		t.Errorf("a long value quoted as %s", q)
	}
}

func stepUp(b []byte) error  { _, err := ReadStepUp(b); return err }
func scope(b []byte) error   { _, err := ReadScope(b); return err }
func passkey(b []byte) error { _, err := ReadPasskey(b); return err }
