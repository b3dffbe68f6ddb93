package oidclogin

import (
	"fmt"
	"slices"
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
	audience        []string
	azp             *string // nil when absent
	issuedAt        time.Time
}

// readIDToken reads the claims of a signature-checked ID token the
// gateway's strict way: one JSON object without duplicate or case-variant
// names; sub, iss, azp and nonce strings; aud a string or an array of
// strings; the verified flags booleans; amr an array of strings; iat
// (required) and auth_time NumericDates. Anything else is a refusal, never
// "absent".
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
	if id.audience, _, err = jose.Strings(m, "aud"); err != nil {
		return nil, fmt.Errorf("%w: id_token claim aud", ErrRefused)
	}
	azp, present, err := jose.String(m, "azp")
	if err != nil {
		return nil, fmt.Errorf("%w: id_token claim azp", ErrRefused)
	}
	if present {
		id.azp = &azp
	}
	if id.issuedAt, present, err = jose.NumericDate(m, "iat"); err != nil || !present {
		return nil, fmt.Errorf("%w: id_token claim iat", ErrRefused)
	}
	if id.Subject == "" || len(id.Subject) > 255 {
		return nil, fmt.Errorf("%w: id_token sub", ErrRefused)
	}
	return id, nil
}

// checkIssuance refuses an ID token issued to someone else or in the
// future (OpenID Connect Core 1.0 §3.1.3.7): with several audiences, azp
// must be present; when present, azp is the client; iat no later than now
// plus leeway.
func (id *Identity) checkIssuance(clientID string, now time.Time, leeway time.Duration) error {
	if !slices.Contains(id.audience, clientID) {
		return fmt.Errorf("%w: id_token aud", ErrRefused)
	}
	if len(id.audience) > 1 && id.azp == nil {
		return fmt.Errorf("%w: id_token with several audiences and no azp", ErrRefused)
	}
	if id.azp != nil && *id.azp != clientID {
		return fmt.Errorf("%w: id_token azp", ErrRefused)
	}
	if id.issuedAt.After(now.Add(leeway)) {
		return fmt.Errorf("%w: id_token iat in the future", ErrRefused)
	}
	return nil
}
