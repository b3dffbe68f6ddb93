package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// RFC 9470 at the gateway with tokens of a real OpenID provider: routes
// that require an acr and a recent authentication, a real client reading
// the challenge with its own parser, and the authorization request it
// makes from it.

// oidcChallenge is one challenge as oauth4webapi parsed it.
type oidcChallenge struct {
	Scheme     string            `json:"scheme"`
	Parameters map[string]string `json:"parameters"`
}

// acrGatewayStores are the stores the acr tests run on: memory and Redis.
var acrGatewayStores = sdkStores[:2]

// startProviderACRGateway trusts the provider's tokens for the resource
// https://api.test, in front of:
//
//	/api/strong  payments:write, acr urn:stepup:loa:2, max_age 5m
//	/api/recent  any valid token, max_age 60s
func startProviderACRGateway(t *testing.T, store string, p *oidcProvider, upstreamURL string) string {
	t.Helper()
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		%s
		trust %s {
			jwks_url %s
			audience https://api.test
		}
	}
}
%s {
	route /api/strong* {
		stepup payments:write {
			acr urn:stepup:loa:2
			max_age 5m
		}
		reverse_proxy %[5]s
	}
	route /api/recent* {
		stepup {
			max_age 60s
		}
		reverse_proxy %[5]s
	}
	respond 404
}
`, store, p.Issuer, p.JWKSURI, base, upstreamURL), WaitFor: []string{base + "/api/none"}})
	return base
}

// TestRealProviderACR: tokens from oidc-provider after authorization
// requests with and without acr_values and max_age. Where the token falls
// short, the gateway answers RFC 9470's challenge under the DPoP scheme;
// oauth4webapi parses acr_values and max_age out of it, and a new
// authorization request with exactly those gets a token that passes.
func TestRealProviderACR(t *testing.T) {
	requireOIDCHarness(t)
	p := startOIDCProvider(t)
	for _, st := range acrGatewayStores {
		t.Run(st.name, func(t *testing.T) {
			api := newUpstream(t)
			base := startProviderACRGateway(t, st.store(t), p, api.srv.URL)
			calls := []oidcCall{
				{Name: "strong", URL: base + "/api/strong", Method: "POST", Body: `{"amount":"5"}`, ContentType: "application/json", As: "dpop"},
				{Name: "recent", URL: base + "/api/recent", As: "dpop"},
				{Name: "strong as bearer", URL: base + "/api/strong", As: "bearer"},
			}
			run := func(r oidcRun) oidcOutput {
				r.Resource, r.Scope, r.Calls = "https://api.test", "payments:write", calls
				return p.run(t, r)
			}
			challengeOf := func(t *testing.T, out oidcOutput, name string) map[string]string {
				t.Helper()
				got := out.result(t, name)
				cs := got.Challenges
				if got.Status != 401 || len(cs) != 1 || cs[0].Scheme != "dpop" {
					t.Fatalf("%s: %d, challenges %+v (%s), want one DPoP challenge", name, got.Status, cs, got.WWWAuthenticate)
				}
				params := cs[0].Parameters
				if params["error"] != "insufficient_user_authentication" || params["algs"] == "" {
					t.Errorf("%s: parameters %v", name, params)
				}
				var body struct {
					Code      string `json:"code"`
					ACRValues string `json:"acr_values"`
					MaxAge    int    `json:"max_age"`
					StepUp    any    `json:"step_up"`
				}
				if err := json.Unmarshal([]byte(got.Body), &body); err != nil || body.Code != "insufficient_user_authentication" ||
					body.ACRValues != params["acr_values"] || fmt.Sprint(body.MaxAge) != orZero(params["max_age"]) || body.StepUp != nil {
					t.Errorf("%s: body %s does not match the header %v (no gateway scope earns the provider's acr)", name, got.Body, params)
				}
				return params
			}
			passed := func(t *testing.T, out oidcOutput, names ...string) {
				t.Helper()
				for _, name := range names {
					if got := out.result(t, name); got.Status != 200 {
						t.Errorf("%s: %d %q %s", name, got.Status, got.WWWAuthenticate, got.Body)
					}
				}
			}

			hits := api.hits.Load()
			maxAge := 300
			strong := run(oidcRun{ACRValues: "urn:stepup:loa:2", MaxAge: &maxAge})
			if strong.Claims["acr"] != "urn:stepup:loa:2" || strong.Claims["auth_time"] == nil {
				t.Fatalf("the provider's token: %v", strong.Claims)
			}
			passed(t, strong, "strong", "recent")
			if got := strong.result(t, "strong as bearer"); got.Status != 401 || got.WWWAuthenticate != `Bearer error="invalid_token"` {
				t.Errorf("a DPoP-bound token as bearer on an acr route: %d %q (an invalid token comes first)", got.Status, got.WWWAuthenticate)
			}
			if n := api.hits.Load() - hits; n != 2 {
				t.Fatalf("the legacy API was called %d times, want 2", n)
			}

			// A lower acr: the challenge names the one to ask for.
			hits = api.hits.Load()
			weak := run(oidcRun{ACRValues: "urn:stepup:loa:1"})
			params := challengeOf(t, weak, "strong")
			if params["acr_values"] != "urn:stepup:loa:2" || params["max_age"] != "" {
				t.Errorf("acr challenge parameters %v", params)
			}
			passed(t, weak, "recent")
			retried := run(oidcRun{ACRValues: params["acr_values"]})
			passed(t, retried, "strong", "recent")

			// Signed in an hour ago: both routes ask for a recent login.
			old := run(oidcRun{ACR: "urn:stepup:loa:2", AuthAge: 3600})
			strongParams, recentParams := challengeOf(t, old, "strong"), challengeOf(t, old, "recent")
			if strongParams["max_age"] != "300" || strongParams["acr_values"] != "" || recentParams["max_age"] != "60" {
				t.Errorf("max_age challenges: %v and %v", strongParams, recentParams)
			}
			var fresh int
			fmt.Sscan(recentParams["max_age"], &fresh)
			renewed := run(oidcRun{ACRValues: "urn:stepup:loa:2", MaxAge: &fresh})
			passed(t, renewed, "strong", "recent")

			// Passed: retried's two, renewed's two, weak's recent.
			if n := api.hits.Load() - hits; n != 5 {
				t.Errorf("the legacy API was called %d times, want 5", n)
			}
		})
	}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// TestRefusedAgeSpendsNoGrant: a token whose single-use grant is behind a
// route that also requires a recent authentication is refused there once
// too old, on memory and Redis, and the refusal leaves the grant for a
// route without max_age, where it passes once.
func TestRefusedAgeSpendsNoGrant(t *testing.T) {
	for _, st := range acrGatewayStores {
		t.Run(st.name, func(t *testing.T) {
			api, codes := newUpstream(t), newOTPReceiver(t)
			port := testcaddy.FreePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		%[2]s
		login otp phone_number
		otp {
			sender webhook %[3]s/send
		}
		scope pay:once {
			acr urn:stepup:phone
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
	route /api/recent* {
		stepup pay:once {
			acr urn:stepup:phone
			max_age 2s
		}
		reverse_proxy %[4]s
	}
	route /api/pay* {
		stepup pay:once
		reverse_proxy %[4]s
	}
	respond 404
}
`, base, st.store(t), codes.srv.URL, api.srv.URL), WaitFor: []string{base + "/.well-known/jwks.json"}})
			client := newClient(t)
			c := sessionclient.New(base)
			c.HTTP = client
			if resp, err := c.StartLogin("phone_number", "+33612340001"); err != nil || resp.Status != http.StatusNoContent {
				t.Fatalf("login/otp: %v %v", resp, err)
			}
			if resp, err := c.CheckLogin(codes.lastCode(t, "+33612340001")); err != nil || resp.Status != http.StatusOK {
				t.Fatalf("login/otp/check: %v %v", resp, err)
			}
			token := stepUpBySMS(t, c, codes, "pay:once", nil).String("access_token")
			claims := sessionclient.Claims(token)
			if claims["acr"] != "urn:stepup:phone" || fmt.Sprint(claims["amr"]) != "[otp sms]" || claims["auth_time"] == nil {
				t.Fatalf("the stepped-up token: %v", claims)
			}
			time.Sleep(3500 * time.Millisecond) // past max_age 2s, in whole seconds
			stale := fetch(t, client, "GET", base+"/api/recent", bearer(token))
			if stale.status != 401 || !strings.Contains(stale.wwwAuth, "max_age=2") || api.hits.Load() != 0 {
				t.Fatalf("a stale token: %d %q (%d upstream hits)", stale.status, stale.wwwAuth, api.hits.Load())
			}
			if got := fetch(t, client, "GET", base+"/api/pay", bearer(token)); got.status != 200 {
				t.Fatalf("the grant after the refusal: %d %s", got.status, got.body)
			}
			if got := fetch(t, client, "GET", base+"/api/pay", bearer(token)); got.status != 401 || got.code != "step_up_required" {
				t.Errorf("the grant a second time: %d %s", got.status, got.body)
			}
			if n := api.hits.Load(); n != 1 {
				t.Errorf("the legacy API was called %d times, want 1", n)
			}
		})
	}
}
