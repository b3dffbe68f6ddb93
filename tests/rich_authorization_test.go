package tests

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/bodycases"
)

// payRoute requires the payment_initiation details at /pay.
const payRoute = `	route /pay* {
		stepup {
			resource {base}/pay
			authorization_details payment_initiation {
				actions initiate
				match instructedAmount.amount amount
				match instructedAmount.currency currency
			}
		}
		reverse_proxy {api}
	}
`

// TestAuthorizationDetailsMeanOneThingToEveryParser sends the bodies and
// requests transaction binding is tested with to a route that requires
// payment_initiation details, with a token whose details approve 500 USD:
// exactly the ones every parser reads as 500 USD reach the API, as the
// bytes sent; the others never do.
func TestAuthorizationDetailsMeanOneThingToEveryParser(t *testing.T) {
	env := startRichGateway(t, payRoute)
	pay := env.base + "/pay"
	token := env.key.token(t, env.idp.issuer, func(h, c map[string]any) {
		c["aud"] = pay
		c["authorization_details"] = []any{map[string]any{"type": "payment_initiation", "actions": []any{"initiate"}, "locations": []any{pay},
			"instructedAmount": map[string]any{"amount": bodycases.Approved["amount"], "currency": bodycases.Approved["currency"]}}}
	})
	send := func(t *testing.T, header http.Header, query, body string) (answer, int64) {
		t.Helper()
		header.Set("Authorization", "Bearer "+token)
		before := env.api.hits.Load()
		path := "/pay"
		if query != "" {
			path += "?" + query
		}
		got := env.send(t, "POST", path, header, body)
		return got, env.api.hits.Load() - before
	}
	for _, tc := range bodycases.JSONBodies {
		t.Run(tc.Name, func(t *testing.T) {
			got, hits := send(t, http.Header{"Content-Type": {"application/json"}}, "", tc.Body)
			switch {
			case tc.Match && (got.status != 200 || hits != 1 || string(env.api.body()) != tc.Body):
				t.Errorf("the approved payment: %d, %d calls, the API got %q", got.status, hits, env.api.body())
			case !tc.Match && (hits != 0 || (got.status != 400 && got.status != 401)):
				t.Errorf("refused? %d, %d calls: %s", got.status, hits, got.body)
			case !tc.Match && got.status == 401 && got.code != "insufficient_authorization":
				t.Errorf("a valid token refused with %s", got.body)
			}
		})
	}
	body := `{"amount":"500","currency":"USD"}`
	for _, tc := range bodycases.JSONRequests {
		t.Run(tc.Name, func(t *testing.T) {
			h := http.Header{}
			for _, ct := range tc.ContentTypes {
				h.Add("Content-Type", ct)
			}
			for _, ce := range tc.Encodings {
				h.Add("Content-Encoding", ce)
			}
			got, hits := send(t, h, tc.Query, body)
			if tc.Match != (got.status == 200 && hits == 1) || (!tc.Match && (got.status != 400 || got.code != "bad_request")) {
				t.Errorf("%d, %d calls, want match %v: %s", got.status, hits, tc.Match, got.body)
			}
		})
	}
	// The same token is not one for 5,000 USD: the challenge names the
	// details that would be, as draft-ietf-oauth-rar-metadata-remediation
	// writes them.
	got, hits := send(t, http.Header{"Content-Type": {"application/json"}}, "", `{"amount":"5000","currency":"USD","memo":"x"}`)
	want := []any{map[string]any{"type": "payment_initiation", "actions": []any{"initiate"}, "locations": []any{pay},
		"instructedAmount": map[string]any{"amount": "5000", "currency": "USD"}}}
	var b struct {
		Code                 string `json:"code"`
		AuthorizationDetails []any  `json:"authorization_details"`
	}
	if got.status != 401 || hits != 0 || json.Unmarshal(got.body, &b) != nil || b.Code != "insufficient_authorization" || !reflect.DeepEqual(b.AuthorizationDetails, want) {
		t.Fatalf("5,000 USD: %d %s", got.status, got.body)
	}
	const prefix = `Bearer error="insufficient_authorization", error_description="Additional authorization is required", authorization_remediation="`
	if !strings.HasPrefix(got.wwwAuth, prefix) || got.resourceMetadata != env.base+"/.well-known/oauth-protected-resource/pay" {
		t.Fatalf("challenge %q, resource_metadata %q", got.wwwAuth, got.resourceMetadata)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(got.wwwAuth, prefix), `"`))
	var rem map[string]any
	if err != nil || json.Unmarshal(raw, &rem) != nil || !reflect.DeepEqual(rem, map[string]any{"authorization_details": want}) {
		t.Errorf("authorization_remediation %s", raw)
	}
	// The metadata names the type.
	doc := fetch(t, env.client, "GET", env.base+"/.well-known/oauth-protected-resource/pay", nil)
	var meta map[string]any
	if json.Unmarshal(doc.body, &meta) != nil || !reflect.DeepEqual(meta["authorization_details_types_supported"], []any{"payment_initiation"}) {
		t.Errorf("metadata %s", doc.body)
	}
	transfers := fetch(t, env.client, "GET", env.base+"/.well-known/oauth-protected-resource/transfers", nil)
	if json.Unmarshal(transfers.body, &meta) != nil || !reflect.DeepEqual(meta["authorization_details_types_supported"], []any{"urn:stepup:transaction"}) {
		t.Errorf("the bound route's metadata %s", transfers.body)
	}
}
