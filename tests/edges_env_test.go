package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// edgeEnv is a gateway as a team fronting a legacy API deploys it: it mints
// its own tokens (OTP login, transfer:write stepped up by an SMS code into a
// single-use grant) and trusts an external identity provider, in front of
// these routes of the legacy API:
//
//	/api/transfers  transfer:write, bound to the amount and currency
//	/api/payments   payments:write (tokens of the provider)
//	/api/admin      admin:all (which no step-up grants)
//	/api/uploads    any valid token
//	/api/nonce      any valid token; DPoP proofs need a server nonce
type edgeEnv struct {
	base   string
	idp    *testIdP
	key    *idpKey
	api    *upstream
	codes  *otpReceiver
	client *http.Client
}

// edgeTrust is one more `trust` block for the gateway.
type edgeTrust struct{ issuer, jwksURL, audience string }

func startEdgeGateway(t *testing.T, store string, trust ...edgeTrust) *edgeEnv {
	t.Helper()
	env := &edgeEnv{key: newECKey(t, "es-1"), api: newUpstream(t), codes: newOTPReceiver(t), client: newClient(t)}
	env.idp = newIdP(t, "https://idp.test", env.key)
	trust = append(trust, edgeTrust{env.idp.issuer, env.idp.jwksURL(), "api"})
	var trustBlocks strings.Builder
	for _, tr := range trust {
		fmt.Fprintf(&trustBlocks, "\t\ttrust %s {\n\t\t\tjwks_url %s\n\t\t\taudience %s\n\t\t}\n", tr.issuer, tr.jwksURL, tr.audience)
	}
	port := testcaddy.FreePort(t)
	env.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	up := env.api.srv.URL
	testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		%[2]s
%[3]s		login otp phone_number
		otp {
			sender webhook %[4]s/send
			max_per_hour 1000
		}
		# Every request of these tests comes from 127.0.0.1.
		limits {
			client_unproven_sends 1000 1h
			client_destination_sends 1000 1h
			client_unfinished_logins 1000 10m
			client_login_starts 1000 10m
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
	route /api/transfers* {
		stepup transfer:write {
			bind amount currency
		}
		reverse_proxy %[5]s
	}
	route /api/payments* {
		stepup payments:write
		reverse_proxy %[5]s
	}
	route /api/admin* {
		stepup admin:all
		reverse_proxy %[5]s
	}
	route /api/uploads* {
		stepup
		reverse_proxy %[5]s
	}
	route /api/nonce* {
		stepup {
			dpop_nonce
		}
		reverse_proxy %[5]s
	}
	respond 404
}
`, env.base, store, trustBlocks.String(), env.codes.srv.URL, up), WaitFor: []string{env.base + "/.well-known/jwks.json"}})
	return env
}

// send makes one request with a raw body and reads the whole answer.
func (env *edgeEnv) send(t *testing.T, method, path string, header http.Header, body []byte) answer {
	t.Helper()
	return fetchBody(t, env.client, method, env.base+path, header, body)
}

// refused asserts a refusal that never reached the legacy API.
func (env *edgeEnv) refused(t *testing.T, got answer, hitsBefore int64, status int, wwwAuth, code string) {
	t.Helper()
	if got.status != status || got.wwwAuth != wwwAuth || got.code != code {
		t.Errorf("got %d %q %q, want %d %q %q (body %s)", got.status, got.wwwAuth, got.code, status, wwwAuth, code, got.body)
	}
	if got.cache != "no-store" {
		t.Errorf("Cache-Control = %q", got.cache)
	}
	if hits := env.api.hits.Load() - hitsBefore; hits != 0 {
		t.Errorf("the legacy API was called %d times", hits)
	}
}

// login logs a user in by phone through the session API, as the SDK does.
func (env *edgeEnv) login(t *testing.T, phone string) *sessionclient.Client {
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

// singleUseToken steps c up to transfer:write for the given transaction
// and returns the access token carrying the single-use grant.
func (env *edgeEnv) singleUseToken(t *testing.T, c *sessionclient.Client, metadata map[string]string) string {
	t.Helper()
	return stepUpBySMS(t, c, env.codes, "transfer:write", metadata).String("access_token")
}

// stepUpBySMS requests scope for c, passes its SMS step with the code the
// OTP receiver got, and returns the answer of the redeeming refresh.
func stepUpBySMS(t *testing.T, c *sessionclient.Client, codes *otpReceiver, scope string, metadata map[string]string) *sessionclient.Response {
	t.Helper()
	req, err := c.RequestStepUp(scope, metadata)
	if err != nil || req.Status != http.StatusOK || req.String("challenge_token") == "" {
		t.Fatalf("stepup/request: %v %v", req, err)
	}
	challenge := req.String("challenge_token")
	if resp, err := c.SendOTP(challenge); err != nil || resp.Status != http.StatusNoContent {
		t.Fatalf("otp: %v %v", resp, err)
	}
	checked, err := c.CheckOTP(challenge, codes.last(t, "step_up").Code)
	if err != nil || checked.Status != http.StatusOK {
		t.Fatalf("otp/check: %v %v", checked, err)
	}
	red, err := c.Refresh(checked.String("challenge_token"))
	if err != nil || red.Status != http.StatusOK || red.String("access_token") == "" {
		t.Fatalf("refresh with the completed challenge: %v %v", red, err)
	}
	return red
}

func jsonHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
}
