package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// webhookGatewayConfig is a gateway that sends its session webhooks to
// receiverURL/events, retrying every 100 to 400 ms. keys holds the
// signing_key and webhook_signing_key lines ("" : both generated in the
// instance's storage); extra goes into the stepup block.
func webhookGatewayConfig(base, store, keys, codesURL, receiverURL, extra string) string {
	return fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://gateway.test
		external_url %[1]s
		%[2]s
		%[3]s
		login otp phone_number
		otp {
			sender webhook %[4]s/send
		}
		webhooks {
			app_id webhook-test
			endpoint %[5]s/events
			backoff 100ms 400ms
			max_attempts 100
			timeout 2s
		}
		%[6]s
	}
}

%[1]s {
	stepup_session
	respond 404
}
`, base, store, keys, codesURL, receiverURL, extra)
}

// startWebhookGateway starts one such gateway and returns its base URL.
func startWebhookGateway(t *testing.T, store, keys, codesURL, receiverURL, extra string) (string, *testcaddy.Instance) {
	t.Helper()
	base := fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
	inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: webhookGatewayConfig(base, store, keys, codesURL, receiverURL, extra),
		WaitFor: []string{base + "/.well-known/jwks.json"}})
	return base, inst
}

// loginAt logs phone in at base by code and returns the client, its user
// and its session.
func loginAt(t *testing.T, base string, codes *otpReceiver, phone string) (*sessionclient.Client, string, string) {
	t.Helper()
	c := sessionclient.New(base)
	if r, err := c.StartLogin("phone_number", phone); err != nil || r.Status != 204 {
		t.Fatalf("login start: %v %v", r, err)
	}
	if r, err := c.CheckLogin(codes.lastCode(t, phone)); err != nil || r.Status != 200 {
		t.Fatalf("login check: %v %v", r, err)
	}
	claims := sessionclient.Claims(c.AccessToken)
	return c, fmt.Sprint(claims["sub"]), fmt.Sprint(claims["sid"])
}

// forUser and forSession match payloads.
func forUser(user string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["user_id"] == user }
}

func forSession(sid, reason string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["session_id"] == sid && (reason == "" || p["reason"] == reason) }
}

// webhookStores are the stores the webhook tests run on.
var webhookStores = sdkStores[:2]

// TestSessionWebhooks: after an OTP login the backend gets user.created
// (with the phone number the code proved) and user.session.created; it
// gets user.session.revoked after a logout, after the admin API ends a
// session and after a refresh token's reuse; every request verifies with
// the key the gateway's JWKS publishes, each event arrives once, and no
// code or token is in any of them. On memory and Redis.
func TestSessionWebhooks(t *testing.T) {
	for _, st := range webhookStores {
		t.Run(st.name, func(t *testing.T) {
			codes, rcv := newOTPReceiver(t), newWebhookReceiver(t)
			base, inst := startWebhookGateway(t, st.store(t), "", codes.srv.URL, rcv.srv.URL, "")
			const phone = "+15555550301"
			c, user, sid := loginAt(t, base, codes, phone)
			secrets := []string{codes.lastCode(t, phone), c.AccessToken, c.RefreshToken}

			created := rcv.waitFor(t, "user.created", forUser(user))
			if ids, _ := json.Marshal(created.event.Payload["identifiers"]); string(ids) != `[{"type":"phone_number","value":"`+phone+`"}]` || created.appID != "webhook-test" {
				t.Errorf("user.created: app %q, identifiers %s", created.appID, ids)
			}
			opened := rcv.waitFor(t, "user.session.created", forSession(sid, ""))
			if ident, _ := opened.event.Payload["identifier"].(map[string]any); opened.event.Payload["user_id"] != user || ident["value"] != phone ||
				opened.event.Payload["metadata"].(map[string]any)["login_method"] != "otp" {
				t.Errorf("user.session.created %v", opened.event.Payload)
			}

			// Logout.
			if r, err := c.Revoke(); err != nil || r.Status >= 300 {
				t.Fatalf("logout: %v %v", r, err)
			}
			rcv.waitFor(t, "user.session.revoked", forSession(sid, "logout"))

			// The admin API ends a session.
			c2, _, sid2 := loginAt(t, base, codes, phone)
			secrets = append(secrets, codes.lastCode(t, phone), c2.AccessToken, c2.RefreshToken)
			if status, out := adminCall(t, inst, "DELETE", "/stepup/users/"+user+"/sessions/"+sid2); status != 200 || out["revoked"] != 1.0 {
				t.Fatalf("admin revoke: %d %v", status, out)
			}
			rcv.waitFor(t, "user.session.revoked", forSession(sid2, "admin"))

			// A refresh token two rotations old comes back: the session ends.
			c3, _, sid3 := loginAt(t, base, codes, phone)
			stolen := c3.RefreshToken
			for range 2 {
				if r, err := c3.Refresh(""); err != nil || r.Status != 200 {
					t.Fatalf("refresh: %v %v", r, err)
				}
			}
			secrets = append(secrets, stolen, c3.RefreshToken, c3.AccessToken)
			c3.RefreshToken = stolen
			if r, _ := c3.Refresh(""); r.Status != 401 {
				t.Fatalf("the retired token: %v", r)
			}
			rcv.waitFor(t, "user.session.revoked", forSession(sid3, "reuse"))

			// One user, three sessions opened and ended (the four workers
			// deliver in any order); each event once, each signed; no secret
			// anywhere.
			rcv.waitFor(t, "user.session.created", forSession(sid2, ""))
			rcv.waitFor(t, "user.session.created", forSession(sid3, ""))
			if n := len(rcv.of("user.created", forUser(user))); n != 1 {
				t.Errorf("%d user.created for one user", n)
			}
			seen := map[string]int{}
			for _, d := range rcv.deliveries() {
				seen[d.event.ID]++
				verifiedWebhook(t, base, d)
				for _, s := range secrets {
					if s != "" && strings.Contains(string(d.body), s) {
						t.Errorf("%s carries a code or token", d.event.Type)
					}
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("event %s arrived %d times from a receiver that always answered", id, n)
				}
			}
			if len(seen) != 7 || rcv.bad != 0 {
				t.Errorf("%d events (%d malformed requests), want 7: a user, 3 sessions opened and 3 ended", len(seen), rcv.bad)
			}
		})
	}
}

// TestSessionWebhooksWhileTheReceiverIsDown: logins answer as usual while
// nothing listens at the endpoint, and while it holds a request without
// answering; the events arrive once it is back, through a reload that
// leaves the webhooks as they were. On memory and Redis.
func TestSessionWebhooksWhileTheReceiverIsDown(t *testing.T) {
	for _, st := range webhookStores {
		t.Run(st.name, func(t *testing.T) {
			codes := newOTPReceiver(t)
			receiverURL, up := laterWebhookReceiver(t)
			store := st.store(t)
			base, inst := startWebhookGateway(t, store, "", codes.srv.URL, receiverURL, "")
			_, user, sid := loginAt(t, base, codes, "+15555550311") // nothing listens: the login answers 200

			// A reload that changes something else keeps the queue.
			inst.Reload(t, webhookGatewayConfig(base, store, "", codes.srv.URL, receiverURL, "scope extra:write {\n\t\t\tblock\n\t\t}"))
			rcv := up()
			verifiedWebhook(t, base, rcv.waitFor(t, "user.created", forUser(user)))
			verifiedWebhook(t, base, rcv.waitFor(t, "user.session.created", forSession(sid, "")))

			// The receiver takes the next requests and does not answer:
			// the login answers all the same (a login that waited for its
			// webhook would never answer, since the gate opens after it).
			gate := make(chan struct{})
			rcv.mu.Lock()
			rcv.gate = gate
			rcv.mu.Unlock()
			_, user2, sid2 := loginAt(t, base, codes, "+15555550312")
			close(gate)
			rcv.waitFor(t, "user.created", forUser(user2))
			rcv.waitFor(t, "user.session.created", forSession(sid2, ""))
		})
	}
}

// TestWebhooksAcrossTwoGateways: two gateways sharing Redis and their keys
// each send the events of the requests they served: a login on one and
// its logout on the other arrive once each, verifiable with either's JWKS.
func TestWebhooksAcrossTwoGateways(t *testing.T) {
	codes, rcv := newOTPReceiver(t), newWebhookReceiver(t)
	redis := redistest.Start(t)
	keys := fmt.Sprintf("signing_key %s\n\t\twebhook_signing_key %s", sharedSigningKey(t), sharedWebhookKey(t))
	store := "store redis redis://" + redis.Addr + "/0"
	baseA, _ := startWebhookGateway(t, store, keys, codes.srv.URL, rcv.srv.URL, "")
	baseB, _ := startWebhookGateway(t, store, keys, codes.srv.URL, rcv.srv.URL, "")
	c, user, sid := loginAt(t, baseA, codes, "+15555550321")
	atB := sameBrowserAt(c, baseB)
	if r, err := atB.Revoke(); err != nil || r.Status >= 300 {
		t.Fatalf("logout on B: %v %v", r, err)
	}
	rcv.waitFor(t, "user.session.revoked", forSession(sid, "logout"))
	rcv.waitFor(t, "user.session.created", forSession(sid, ""))
	rcv.waitFor(t, "user.created", forUser(user))
	for _, d := range rcv.deliveries() {
		verifiedWebhook(t, baseA, d)
		verifiedWebhook(t, baseB, d)
	}
	if n := len(rcv.deliveries()); n != 3 {
		t.Errorf("%d deliveries, want 3 (one per event)", n)
	}
}

// sharedWebhookKey writes a fresh RSA key for gateways that must publish
// the same one, and returns its path.
func sharedWebhookKey(t *testing.T) string {
	t.Helper()
	key, err := jwks.GeneratePSSSigner()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := key.PEM()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "webhook_key.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hookRecorder is a delegation hook that records each call and blocks the
// step-up.
type hookRecorder struct {
	srv     *httptest.Server
	mu      sync.Mutex
	headers []http.Header
	bodies  [][]byte
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.headers, h.bodies = append(h.headers, r.Header.Clone()), append(h.bodies, body)
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"block"}`)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// TestDelegationHookSignatures: with the webhook key beside the signing key
// in the JWKS, the delegation hook is signed ES256 by default and PS256
// with hook_algorithm PS256 (as Prelude signs its hook); a receiver that
// looks the key up by its kid verifies either.
func TestDelegationHookSignatures(t *testing.T) {
	for _, tc := range []struct{ setting, want string }{{"", "ES256"}, {"hook_algorithm PS256", "PS256"}} {
		t.Run(tc.want, func(t *testing.T) {
			codes, rcv, hook := newOTPReceiver(t), newWebhookReceiver(t), newHookRecorder(t)
			extra := tc.setting + "\n\t\tscope transfer:write {\n\t\t\tdelegated " + hook.srv.URL + "\n\t\t}"
			base, _ := startWebhookGateway(t, "store memory", "", codes.srv.URL, rcv.srv.URL, extra)
			if n := gatewayJWKS(t, base).Len(); n != 2 {
				t.Fatalf("the JWKS holds %d keys, want the signing key and the webhook key", n)
			}
			c, _, _ := loginAt(t, base, codes, "+15555550331")
			if r, err := c.RequestStepUp("transfer:write", nil); err != nil || r.Status != 200 || r.String("status") != "block" {
				t.Fatalf("step-up request: %v %v", r, err)
			}
			hook.mu.Lock()
			defer hook.mu.Unlock()
			if len(hook.bodies) != 1 {
				t.Fatalf("%d hook calls", len(hook.bodies))
			}
			if alg := verifiedHookCall(t, base, hook.headers[0], hook.bodies[0]); alg != tc.want {
				t.Errorf("the hook was signed %s, want %s", alg, tc.want)
			}
		})
	}
}
