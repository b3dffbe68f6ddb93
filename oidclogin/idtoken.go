package oidclogin

import (
	"fmt"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
)

// Identity is who an ID token says logged in, and how.
type Identity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	Phone           string // phone_number
	PhoneVerified   bool
	ACR             string
	AMR             []string
	AuthTime        time.Time // zero when absent
	nonce           string
}

// readIDToken reads the claims of a signature-checked ID token the
// gateway's strict way: one JSON object without duplicate or case-variant
// names; sub, iss and nonce strings; the verified flags booleans; amr an
// array of strings; auth_time a NumericDate. Anything else is a refusal,
// never "absent".
func readIDToken(raw string) (*Identity, error) {
	c, err := jose.SplitCompact(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: id_token: %v", ErrRefused, err)
	}
	m, err := strictjson.ParseObject(c.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: id_token claims: %v", ErrRefused, err)
	}
	id := &Identity{}
	for name, dst := range map[string]*string{"iss": &id.Issuer, "sub": &id.Subject, "email": &id.Email,
		"phone_number": &id.Phone, "acr": &id.ACR, "nonce": &id.nonce} {
		if *dst, _, err = jose.String(m, name); err != nil {
			return nil, fmt.Errorf("%w: id_token claim %s", ErrRefused, name)
		}
	}
	for name, dst := range map[string]*bool{"email_verified": &id.EmailVerified, "phone_number_verified": &id.PhoneVerified} {
		v, ok := m[name]
		switch {
		case !ok:
		case v.Kind == strictjson.True:
			*dst = true
		case v.Kind == strictjson.False:
		default:
			return nil, fmt.Errorf("%w: id_token claim %s", ErrRefused, name)
		}
	}
	if id.AMR, _, err = jose.StringArray(m, "amr"); err != nil {
		return nil, fmt.Errorf("%w: id_token claim amr", ErrRefused)
	}
	if id.AuthTime, _, err = jose.NumericDate(m, "auth_time"); err != nil {
		return nil, fmt.Errorf("%w: id_token claim auth_time", ErrRefused)
	}
	if id.Subject == "" || len(id.Subject) > 255 {
		return nil, fmt.Errorf("%w: id_token sub", ErrRefused)
	}
	return id, nil
}
