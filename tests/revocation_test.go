package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// The revocation list through the built caddy: two gateways sharing Redis
// and their signing key; a session ended on one (each way a session ends)
// and its still-unexpired access token refused by the other within one
// second; a trusted issuer's tokens revoked by subject through the admin
// API.

const revocationIdP = "http://idp.test"

// idpKeys is a trusted issuer of our own: its JWKS served over HTTP, its
// tokens signed here.
type idpKeys struct {
	signer *jwks.Signer
	srv    *httptest.Server
}

func newIdPKeys(t *testing.T) *idpKeys {
	t.Helper()
	signer, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	k := &idpKeys{signer: signer}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(signer.PublicJWKS())
	}))
	t.Cleanup(k.srv.Close)
	return k
}

// token is an access token of the trusted issuer for sub, issued at iat.
func (k *idpKeys) token(t *testing.T, sub string, iat time.Time) string {
	t.Helper()
	tok, err := k.signer.Sign("at+jwt", map[string]any{"iss": revocationIdP, "sub": sub, "aud": "api", "iat": iat.Unix(),
		"exp": iat.Add(time.Hour).Unix(), "jti": fmt.Sprint("idp-", iat.UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// revocationGateways starts two gateways on store, sharing keyFile, each
// trusting the issuer whose keys jwksURL serves.
func revocationGateways(t *testing.T, store, codesURL, upstreamURL, jwksURL string) ([]string, []*testcaddy.Instance) {
	t.Helper()
	keyFile := sharedSigningKey(t)
	var bases []string
	var insts []*testcaddy.Instance
	for range 2 {
		base := fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
		inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://gateway.test
		external_url %[1]s
		signing_key %[2]s
		%[3]s
		login otp phone_number
		login password
		otp {
			sender webhook %[4]s/send
		}
		trust %[6]s {
			jwks_url %[7]s
			audience api
			max_token_lifetime 1h
		}
	}
}

%[1]s {
	stepup_session
	route /api/* {
		stepup
		reverse_proxy %[5]s
	}
	respond 404
}
`, base, keyFile, store, codesURL, upstreamURL, revocationIdP, jwksURL), WaitFor: []string{base + "/.well-known/jwks.json"}})
		bases = append(bases, base)
		insts = append(insts, inst)
	}
	return bases, insts
}

// callAPI sends GET /api/things with a Bearer token; it returns the status
// and the challenge.
func callAPI(t *testing.T, base, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/things", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

const revokedDescription = `error_description="The access token has been revoked"`

// refusedWithin polls base with token until it is refused as revoked,
// failing after bound.
func refusedWithin(t *testing.T, bound time.Duration, base, token, what string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		status, challenge := callAPI(t, base, token)
		if status == 401 && strings.Contains(challenge, `error="invalid_token"`) && strings.Contains(challenge, revokedDescription) {
			return
		}
		if status != 200 {
			t.Fatalf("%s: %d %q, neither a pass nor the revoked refusal", what, status, challenge)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the other gateway still accepts the token after %v", what, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// adminPost posts a JSON body to an instance's admin endpoint.
func adminPost(t *testing.T, inst *testcaddy.Instance, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d%s", inst.AdminPort, path), "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: %d %q is not JSON", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// revocationStores are the shared stores the two gateways run on.
var revocationStores = []struct {
	name  string
	store func(t *testing.T) string
}{
	{"redis", func(t *testing.T) string { return "store redis redis://" + redistest.Start(t).Addr + "/0" }},
	{"cluster", func(t *testing.T) string {
		return "store redis {\n\t\t\tcluster " + strings.Join(redistest.StartCluster(t, 3).Addrs, " ") + "\n\t\t}"
	}},
}

// TestEndedSessionsAreRefusedByTheOtherGateway: for each way a session
// ends on gateway A (logout, /me/revoke, the admin API, a refresh token's
// reuse, a re-login that names the previous session), gateway B refuses
// that session's still-unexpired access token within one second, with 401
// invalid_token saying it was revoked, and audits it; the user's other
// session is untouched.
func TestEndedSessionsAreRefusedByTheOtherGateway(t *testing.T) {
	for _, st := range revocationStores {
		t.Run(st.name, func(t *testing.T) {
			codes, api, idp := newOTPReceiver(t), newUpstream(t), newIdPKeys(t)
			bases, insts := revocationGateways(t, st.store(t), codes.srv.URL, api.srv.URL, idp.srv.URL)
			a, b := bases[0], bases[1]
			const phone = "+15555550401"
			bystander, _, _ := loginAt(t, a, codes, phone)

			ends := []struct {
				reason string
				// end ends the session of c at gateway A and returns the
				// access token the client still holds.
				end func(t *testing.T, c *sessionclient.Client, user, sid string) string
			}{
				{"logout", func(t *testing.T, c *sessionclient.Client, _, _ string) string {
					if r, err := c.Revoke(); err != nil || r.Status >= 300 {
						t.Fatalf("logout: %v %v", r, err)
					}
					return c.AccessToken
				}},
				{"user", func(t *testing.T, c *sessionclient.Client, _, _ string) string {
					r, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/me/revoke?target=mine", Bearer: true})
					if err != nil || r.Status >= 300 {
						t.Fatalf("/me/revoke: %v %v", r, err)
					}
					return c.AccessToken
				}},
				{"admin", func(t *testing.T, c *sessionclient.Client, user, sid string) string {
					if status, out := adminCall(t, insts[0], "DELETE", "/stepup/users/"+user+"/sessions/"+sid); status != 200 || out["revoked"] != 1.0 {
						t.Fatalf("admin: %d %v", status, out)
					}
					return c.AccessToken
				}},
				{"reuse", func(t *testing.T, c *sessionclient.Client, _, _ string) string {
					stolen := c.RefreshToken
					for range 2 {
						if r, err := c.Refresh(""); err != nil || r.Status != 200 {
							t.Fatalf("refresh: %v %v", r, err)
						}
					}
					latest := c.AccessToken
					c.RefreshToken = stolen
					if r, _ := c.Refresh(""); r.Status != 401 {
						t.Fatalf("the retired refresh token: %v", r)
					}
					return latest
				}},
			}
			for _, e := range ends {
				c, user, sid := loginAt(t, a, codes, phone)
				if status, _ := callAPI(t, b, c.AccessToken); status != 200 {
					t.Fatalf("%s: the token before the session ended: %d", e.reason, status)
				}
				token := e.end(t, c, user, sid)
				refusedWithin(t, time.Second, b, token, e.reason)
				if status, challenge := callAPI(t, a, token); status != 401 || !strings.Contains(challenge, revokedDescription) {
					t.Fatalf("%s: gateway A answered %d %q", e.reason, status, challenge)
				}
			}

			// A re-login that names the previous session (X-Refresh-Token,
			// with that session's key) ends it.
			const email, password = "relogin@example.com", "correct horse battery staple"
			c := sessionclient.New(a)
			r, err := c.SignUp(email, password)
			if err != nil || r.Status != 200 {
				t.Fatalf("sign-up: %v %v", r, err)
			}
			if r, err := c.Finalize(r.String("challenge_token"), ""); err != nil || r.Status != 200 {
				t.Fatalf("sign-up finalize: %v %v", r, err)
			}
			if r, err := c.CheckLogin(codes.lastCode(t, email)); err != nil || r.Status != 200 {
				t.Fatalf("sign-up code: %v %v", r, err)
			}
			previous, previousRefresh := c.AccessToken, c.RefreshToken
			if status, _ := callAPI(t, b, previous); status != 200 {
				t.Fatalf("relogin: the token before: %d", status)
			}
			r, err = c.PasswordLogin(email, password)
			if err != nil || r.Status != 200 {
				t.Fatalf("password login: %v %v", r, err)
			}
			r, err = c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/finalize", SessionDPoP: true,
				Header: http.Header{"X-Refresh-Token": {previousRefresh}}, Body: map[string]string{"challenge_token": r.String("challenge_token")}})
			if err != nil || r.Status != 200 {
				t.Fatalf("re-login: %v %v", r, err)
			}
			refusedWithin(t, time.Second, b, previous, "relogin")
			if status, _ := callAPI(t, b, c.AccessToken); status != 200 {
				t.Fatalf("the re-login's own token: %d", status)
			}

			if status, _ := callAPI(t, b, bystander.AccessToken); status != 200 {
				t.Fatalf("the user's other session: %d", status)
			}
			insts[1].Stop()
			log := insts[1].Log()
			for _, reason := range []string{"logout", "user", "admin", "reuse", "relogin"} {
				if !strings.Contains(log, `"event":"revocation.enforced"`) || !strings.Contains(log, `"reason":"`+reason+`"`) {
					t.Errorf("gateway B's audit log has no revocation.enforced with reason %s", reason)
				}
			}
		})
	}
}

// TestTrustedIssuersTokensRevokedBySubject: the admin API of gateway A
// revokes a trusted issuer's subject; gateway B refuses that subject's
// tokens issued until then within one second, keeps accepting another
// subject's and the subject's tokens issued later, and lists the
// revocation.
func TestTrustedIssuersTokensRevokedBySubject(t *testing.T) {
	codes, api, idp := newOTPReceiver(t), newUpstream(t), newIdPKeys(t)
	bases, insts := revocationGateways(t, "store redis redis://"+redistest.Start(t).Addr+"/0", codes.srv.URL, api.srv.URL, idp.srv.URL)
	b := bases[1]
	alice := idp.token(t, "alice", time.Now().Add(-time.Minute))
	bob := idp.token(t, "bob", time.Now().Add(-time.Minute))
	for _, tok := range []string{alice, bob} {
		if status, challenge := callAPI(t, b, tok); status != 200 {
			t.Fatalf("a trusted token before any revocation: %d %q", status, challenge)
		}
	}
	status, out := adminPost(t, insts[0], "/stepup/revocations", `{"kind":"sub","issuer":"`+revocationIdP+`","value":"alice"}`)
	if status != 201 {
		t.Fatalf("POST /stepup/revocations: %d %v", status, out)
	}
	refusedWithin(t, time.Second, b, alice, "alice's token")
	if status, _ := callAPI(t, b, bob); status != 200 {
		t.Fatalf("bob's token: %d", status)
	}
	// A token issued after the revocation (iat has whole seconds) passes.
	time.Sleep(1100 * time.Millisecond)
	if status, _ := callAPI(t, b, idp.token(t, "alice", time.Now())); status != 200 {
		t.Fatalf("alice's token issued after the revocation: %d", status)
	}
	status, out = adminCall(t, insts[1], "GET", "/stepup/revocations?kind=sub&issuer="+revocationIdP)
	revs, _ := out["revocations"].([]any)
	if status != 200 || len(revs) != 1 || revs[0].(map[string]any)["value"] != "alice" || revs[0].(map[string]any)["reason"] != "admin" {
		t.Fatalf("gateway B's listing: %d %v", status, out)
	}
}
