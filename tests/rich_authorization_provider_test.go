package tests

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// TestRealProviderAuthorizationDetails: a real OAuth client (oauth4webapi)
// that knows only the resource finds the authorization server from the
// gateway's 401 (resource_metadata and the RFC 9728 document), gets from
// oidc-provider (resourceIndicators and richAuthorizationRequests on) a
// token for the resource carrying a payment_initiation detail, and pays
// exactly that payment through the built caddy. Any other payment is
// refused with the insufficient_authorization challenge, which
// oauth4webapi parses; the client authorizes again with the details the
// challenge names, and that payment then passes.
func TestRealProviderAuthorizationDetails(t *testing.T) {
	requireOIDCHarness(t)
	p := startOIDCProvider(t)
	api := newUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		trust %[1]s {
			jwks_url %[2]s
		}
	}
}
%[3]s {
	stepup_metadata {
		resource_name "Payments"
	}
	route /pay* {
		stepup payments:write {
			resource %[3]s/pay
			dpop_required
			authorization_details payment_initiation {
				actions initiate
				match instructedAmount.amount amount
				match instructedAmount.currency currency
				match creditorAccount.iban iban
			}
		}
		reverse_proxy %[4]s
	}
	respond 404
}
`, p.Issuer, p.JWKSURI, base, api.srv.URL), WaitFor: []string{base + "/none"}})

	resource, url := base+"/pay", base+"/pay/transfers"
	const iban = "DE02120300000000202051"
	payment := func(amount, iban string) string {
		return fmt.Sprintf(`{"amount":"%s","currency":"EUR","iban":"%s","reference":"rent"}`, amount, iban)
	}
	approved := map[string]any{"type": "payment_initiation", "actions": []any{"initiate"},
		"instructedAmount": map[string]any{"amount": "500.00", "currency": "EUR"}, "creditorAccount": map[string]any{"iban": iban}}
	call := func(name, body string) oidcCall {
		return oidcCall{Name: name, URL: url, Method: "POST", Body: body, ContentType: "application/json", As: "dpop"}
	}
	remediated := call("another creditor", payment("500.00", "DE89370400440532013000"))
	remediated.Remediate = true
	bearerCall := call("as a bearer token", payment("500.00", iban))
	bearerCall.As = "bearer"
	out := p.run(t, oidcRun{
		DiscoverFrom: url, Resource: resource, Scope: "payments:write", AuthorizationDetails: []any{approved},
		Calls: []oidcCall{
			call("the approved payment", payment("500.00", iban)),
			call("ten times the amount", payment("5000.00", iban)),
			call("the amount as a number written alike", `{"amount":500.00,"currency":"EUR","iban":"`+iban+`"}`),
			call("the amount written otherwise", `{"amount":500.000,"currency":"EUR","iban":"`+iban+`"}`),
			call("a case-variant duplicate", `{"amount":"500.00","currency":"EUR","iban":"`+iban+`","Amount":"5000.00"}`),
			call("a duplicate", `{"amount":"5000.00","currency":"EUR","iban":"`+iban+`","amount":"500.00"}`),
			remediated,
			bearerCall,
		},
	})

	// Discovery: from the 401 alone.
	d := out.Discovery
	if d == nil || d.Issuer != p.Issuer || d.ResourceMetadata != base+"/.well-known/oauth-protected-resource/pay" ||
		len(d.Challenges) != 1 || d.Challenges[0].Parameters["resource_metadata"] != d.ResourceMetadata {
		t.Fatalf("discovery %+v", d)
	}
	if d.Challenges[0].Scheme != "dpop" || d.Challenges[0].Parameters["algs"] == "" || d.Metadata["dpop_bound_access_tokens_required"] != true {
		t.Errorf("a route that requires DPoP: challenge %+v, metadata %v", d.Challenges, d.Metadata)
	}
	if d.Metadata["resource"] != resource || d.Metadata["resource_name"] != "Payments" ||
		!reflect.DeepEqual(d.Metadata["authorization_details_types_supported"], []any{"payment_initiation"}) {
		t.Errorf("the metadata the client read: %v", d.Metadata)
	}
	// The token: for the resource, with the approved detail.
	if out.Claims["aud"] != resource || !reflect.DeepEqual(out.Claims["authorization_details"], []any{approved}) {
		t.Fatalf("the provider's token: aud %v, authorization_details %v", out.Claims["aud"], out.Claims["authorization_details"])
	}

	// 500.00 as a number is written as the approved "500.00": every parser
	// reads the one amount.
	for _, name := range []string{"the approved payment", "the amount as a number written alike"} {
		if got := out.result(t, name); got.Status != 200 {
			t.Errorf("%s: %d %q %s", name, got.Status, got.WWWAuthenticate, got.Body)
		}
	}
	wantRemediation := func(amount any, iban string) map[string]any {
		return map[string]any{"authorization_details": []any{map[string]any{"type": "payment_initiation", "actions": []any{"initiate"},
			"locations": []any{resource}, "instructedAmount": map[string]any{"amount": amount, "currency": "EUR"}, "creditorAccount": map[string]any{"iban": iban}}}}
	}
	for name, want := range map[string]map[string]any{
		"ten times the amount":         wantRemediation("5000.00", iban),
		"the amount written otherwise": wantRemediation(500.0, iban), // the number as written, 500.000 (decoded here as 500)
		"another creditor":             wantRemediation("500.00", "DE89370400440532013000"),
	} {
		got := out.result(t, name)
		cs := got.Challenges
		if got.Status != 401 || len(cs) != 1 || cs[0].Scheme != "dpop" || cs[0].Parameters["error"] != "insufficient_authorization" ||
			cs[0].Parameters["resource_metadata"] != d.ResourceMetadata || cs[0].Parameters["algs"] == "" {
			t.Errorf("%s: %d, challenges %+v", name, got.Status, cs)
			continue
		}
		if !reflect.DeepEqual(got.Remediation, want) {
			t.Errorf("%s: remediation %v, want %v", name, got.Remediation, want)
		}
		var b struct {
			Code                 string `json:"code"`
			AuthorizationDetails []any  `json:"authorization_details"`
		}
		if json.Unmarshal([]byte(got.Body), &b) != nil || b.Code != "insufficient_authorization" || !reflect.DeepEqual(b.AuthorizationDetails, want["authorization_details"]) {
			t.Errorf("%s: body %s", name, got.Body)
		}
	}
	for _, name := range []string{"a case-variant duplicate", "a duplicate"} {
		if got := out.result(t, name); got.Status != 400 || len(got.Challenges) != 1 || got.Challenges[0].Parameters["error"] != "invalid_request" {
			t.Errorf("%s: %d %+v %s", name, got.Status, got.Challenges, got.Body)
		}
	}
	if got := out.result(t, "as a bearer token"); got.Status != 401 || !strings.HasPrefix(got.WWWAuthenticate, `DPoP error="invalid_token", algs="`) {
		t.Errorf("the DPoP-bound token as bearer: %d %q", got.Status, got.WWWAuthenticate)
	}
	// The client's new authorization request with the challenge's details
	// got a token for that payment, which then passed.
	again := out.result(t, "another creditor#remediated")
	if again.Status != 200 {
		t.Errorf("after the new authorization: %d %q %s", again.Status, again.WWWAuthenticate, again.Body)
	}
	wantNew := wantRemediation("500.00", "DE89370400440532013000")["authorization_details"]
	if !reflect.DeepEqual(again.Claims["authorization_details"], wantNew) || again.Claims["aud"] != resource {
		t.Errorf("the new token: aud %v, authorization_details %v", again.Claims["aud"], again.Claims["authorization_details"])
	}
	if n := api.hits.Load(); n != 3 {
		t.Errorf("the API was called %d times, want 3 (the approved payment twice, the remediated one)", n)
	}
}
