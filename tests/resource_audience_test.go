package tests

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// richEnv is a gateway whose routes name their resources (RFC 8707) and
// read authorization_details (RFC 9396): it mints its own tokens
// (transfer:write stepped up by an SMS code into a single-use grant) and
// trusts an identity provider whose tokens name the resource they are for.
//
//	/payments   payments:write, resource <base>/payments
//	/transfers  transfer:write, resource <base>/transfers, bound to amount and currency
type richEnv struct {
	base   string
	idp    *testIdP
	key    *idpKey
	api    *upstream
	codes  *otpReceiver
	client *http.Client
}

func startRichGateway(t *testing.T, routes string) *richEnv {
	t.Helper()
	env := &richEnv{key: newECKey(t, "es-1"), api: newUpstream(t), codes: newOTPReceiver(t), client: newClient(t)}
	env.idp = newIdP(t, "https://idp.test", env.key)
	port := testcaddy.FreePort(t)
	env.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	routes = strings.NewReplacer("{base}", env.base, "{api}", env.api.srv.URL).Replace(routes)
	testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		trust %[2]s {
			jwks_url %[3]s
			algorithms ES256
		}
		login otp phone_number
		otp {
			sender webhook %[4]s/send
			max_per_hour 1000
		}
		limits {
			client_unproven_sends 1000 1h
			client_destination_sends 1000 1h
			client_sends 1000 1h
		}
		scope transfer:write {
			direct {
				step verify_sms 5m
				granted_for 5m
				grant_mode single-use
			}
		}
	}
}

%[1]s {
	stepup_session
	route /payments* {
		stepup payments:write {
			resource %[1]s/payments
		}
		reverse_proxy %[5]s
	}
	route /transfers* {
		stepup transfer:write {
			resource %[1]s/transfers
			bind amount currency
		}
		reverse_proxy %[5]s
	}
%[6]s
	respond 404
}
`, env.base, env.idp.issuer, env.idp.jwksURL(), env.codes.srv.URL, env.api.srv.URL, routes),
		WaitFor: []string{env.base + "/.well-known/jwks.json"}})
	return env
}

func (env *richEnv) login(t *testing.T, phone string) *sessionclient.Client {
	t.Helper()
	c := sessionclient.New(env.base)
	c.HTTP = env.client
	if resp, err := c.StartLogin("phone_number", phone); err != nil || resp.Status != http.StatusNoContent {
		t.Fatalf("login/otp: %v %v", resp, err)
	}
	if resp, err := c.CheckLogin(env.codes.lastCode(t, phone)); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("login/otp/check: %v %v", resp, err)
	}
	return c
}

func (env *richEnv) send(t *testing.T, method, path string, header http.Header, body string) answer {
	t.Helper()
	return fetchBody(t, env.client, method, env.base+path, header, []byte(body))
}

// TestResourceAudiencesThroughTheBuiltCaddy: a route that names its
// resource takes the tokens whose aud names it, the provider's and the
// gateway's alike; the gateway's name it when the SDK's step-up request
// does (metadata `resource`).
func TestResourceAudiencesThroughTheBuiltCaddy(t *testing.T) {
	env := startRichGateway(t, "")
	payments, transfers := env.base+"/payments", env.base+"/transfers"
	idp := func(aud any) http.Header {
		return bearer(env.key.token(t, env.idp.issuer, func(h, c map[string]any) { c["aud"] = aud }))
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"for this resource", idp(payments), 200},
		{"for this resource among others", idp([]any{"https://other.test", payments}), 200},
		{"for this resource, a slash after it", idp(payments + "/"), 401},
		{"for another resource", idp(transfers), 401},
		{"for the API as a whole", idp("api"), 401},
		{"for the origin", idp(env.base), 401},
	} {
		before := env.api.hits.Load()
		got := env.send(t, "POST", "/payments", tc.header, "")
		if got.status != tc.status || (tc.status == 401 && (got.wwwAuth != `Bearer error="invalid_token"` || got.code != "unauthorized")) {
			t.Errorf("%s: %d %q %s", tc.name, got.status, got.wwwAuth, got.body)
		}
		if got.status == 401 && (env.api.hits.Load() != before || got.resourceMetadata != env.base+"/.well-known/oauth-protected-resource/payments") {
			t.Errorf("%s: upstream called or resource_metadata %q", tc.name, got.resourceMetadata)
		}
	}

	c := env.login(t, "+14155550101")
	transaction := map[string]string{"amount": "500", "currency": "USD"}
	body := `{"amount":"500","currency":"USD"}`
	// A step-up that names no resource: its token is not for /transfers,
	// and the refusal spends nothing.
	plain := stepUpBySMS(t, c, env.codes, "transfer:write", transaction).String("access_token")
	if got := env.send(t, "POST", "/transfers", jsonHeader(plain), body); got.status != 401 || got.wwwAuth != `Bearer error="invalid_token"` {
		t.Errorf("a grant for no resource: %d %q", got.status, got.wwwAuth)
	}
	// Named by the SDK's request: the token's aud names it and it passes, once.
	withResource := map[string]string{"amount": "500", "currency": "USD", "resource": transfers}
	tok := stepUpBySMS(t, c, env.codes, "transfer:write", withResource).String("access_token")
	claims := jwtPart(t, tok, 1)
	if !reflect.DeepEqual(claims["aud"], []any{env.base, transfers}) {
		t.Errorf("aud %v, want the gateway's and the resource", claims["aud"])
	}
	wantDetails := []any{map[string]any{"type": "urn:stepup:transaction", "actions": []any{"transfer:write"}, "locations": []any{transfers},
		"transaction": map[string]any{"amount": "500", "currency": "USD", "resource": transfers}}}
	if !reflect.DeepEqual(claims["authorization_details"], wantDetails) {
		t.Errorf("authorization_details %v", claims["authorization_details"])
	}
	before := env.api.hits.Load()
	if got := env.send(t, "POST", "/transfers", jsonHeader(tok), body); got.status != 200 || env.api.hits.Load() != before+1 {
		t.Fatalf("the resource's grant: %d %s", got.status, got.body)
	}
	if got := env.send(t, "POST", "/transfers", jsonHeader(tok), body); got.status != 401 || got.code != "step_up_required" {
		t.Errorf("the grant again: %d %s", got.status, got.body)
	}
	// The token is for /transfers, not /payments.
	if got := env.send(t, "POST", "/payments", jsonHeader(tok), ""); got.status != 401 || got.wwwAuth != `Bearer error="invalid_token"` {
		t.Errorf("a /transfers token at /payments: %d %q", got.status, got.wwwAuth)
	}
	// A resource no route names is refused at the request.
	for _, r := range []string{env.base + "/admin", "https://evil.test/transfers", transfers + "/"} {
		resp, err := c.RequestStepUp("transfer:write", map[string]string{"amount": "500", "resource": r})
		if err != nil || resp.Status != 400 || resp.Code() != "invalid_metadata" {
			t.Errorf("resource %s: %v %v", r, resp, err)
		}
	}
}
