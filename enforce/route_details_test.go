package enforce

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// TestDecideAuthorizationDetails: the whole decision at a route that
// requires payment_initiation details: covered passes with the body
// handed on; another amount is the remediation challenge; a body no token
// could cover is 400; malformed details are invalid_token.
func TestDecideAuthorizationDetails(t *testing.T) {
	g := newGateway(t)
	ro := newTestRoute(t, RouteConfig{Scopes: []string{"payments:read"}, Resource: paymentLocation,
		AuthorizationDetails: []DetailsRequirement{paymentRequirement}}, nil)
	withDetails := func(details string) string {
		return g.token(func(c map[string]any) {
			c["aud"] = []any{testIssuer, paymentLocation}
			var v any
			if err := json.Unmarshal([]byte(details), &v); err != nil {
				t.Fatal(err)
			}
			c["authorization_details"] = v
		})
	}
	post := func(tok, contentType, body string) *http.Request {
		r := bearer("POST", "/payments", tok, body)
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		return r
	}
	approved := withDetails(approvedPayment)

	body := `{"currency":"USD", "amount":500}`
	r := post(approved, "application/json", body)
	d := ro.Decide(r, g.deps)
	if d.Refusal != nil {
		t.Fatalf("covered: refused %s", d.Refusal.Body)
	}
	if got := readAll(t, r); got != body || r.Header.Get("Content-Length") != "32" {
		t.Errorf("the upstream gets %q (%s)", got, r.Header.Get("Content-Length"))
	}

	d = ro.Decide(post(approved, "application/json", `{"amount":"5000","currency":"USD"}`), g.deps)
	if d.Refusal == nil || d.Refusal.Status != 401 || d.Refusal.Outcome != telemetry.InsufficientAuthorization {
		t.Fatalf("another amount: %+v", d.Refusal)
	}
	want := []any{map[string]any{"type": "payment_initiation", "actions": []any{"initiate"}, "locations": []any{paymentLocation},
		"instructedAmount": map[string]any{"amount": "5000", "currency": "USD"}}}
	var b struct {
		Code                 string `json:"code"`
		AuthorizationDetails []any  `json:"authorization_details"`
	}
	if err := json.Unmarshal(d.Refusal.Body, &b); err != nil || b.Code != "insufficient_authorization" || !reflect.DeepEqual(b.AuthorizationDetails, want) {
		t.Errorf("body %s", d.Refusal.Body)
	}
	prefix := `Bearer error="insufficient_authorization", error_description="Additional authorization is required", authorization_remediation="`
	h := d.Refusal.WWWAuthenticate
	if !strings.HasPrefix(h, prefix) || !strings.HasSuffix(h, `"`) {
		t.Fatalf("challenge %s", h)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(h, prefix), `"`))
	var rem map[string]any
	if err != nil || json.Unmarshal(raw, &rem) != nil || !reflect.DeepEqual(rem, map[string]any{"authorization_details": want}) {
		t.Errorf("authorization_remediation %s (%v)", raw, err)
	}

	for _, tc := range []struct {
		name, tok, contentType, body string
		status                       int
		code                         string
	}{
		{"no details", g.token(func(c map[string]any) { c["aud"] = []any{testIssuer, paymentLocation} }), "application/json", body, 401, "insufficient_authorization"},
		{"details for another resource", withDetails(strings.Replace(approvedPayment, "/payments", "/other", 1)), "application/json", body, 401, "insufficient_authorization"},
		{"malformed details", withDetails(`{"type":"payment_initiation"}`), "application/json", body, 401, "unauthorized"},
		{"a duplicate in the body", approved, "application/json", `{"amount":500,"currency":"USD","Amount":5000}`, 400, "bad_request"},
		{"a form", approved, "application/x-www-form-urlencoded", `amount=500&currency=USD`, 400, "bad_request"},
		{"text", approved, "text/plain", body, 400, "bad_request"},
		{"no body", approved, "application/json", ``, 400, "bad_request"},
		{"a field missing", approved, "application/json", `{"amount":500}`, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ro.Decide(post(tc.tok, tc.contentType, tc.body), g.deps)
			if d.Refusal == nil || d.Refusal.Status != tc.status || readChallenge(t, d.Refusal).Code != tc.code {
				t.Fatalf("refusal %+v, want %d %s", d.Refusal, tc.status, tc.code)
			}
		})
	}
	big := newTestRoute(t, RouteConfig{BodyLimit: 16, AuthorizationDetails: []DetailsRequirement{paymentRequirement}}, nil)
	if d := big.Decide(post(g.token(nil), "application/json", `{"amount":500,"currency":"USD"}`), g.deps); d.Refusal == nil || d.Refusal.Status != 413 {
		t.Errorf("over body_limit: %+v", d.Refusal)
	}
}

func readAll(t *testing.T, r *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
