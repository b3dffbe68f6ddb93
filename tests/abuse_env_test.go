package tests

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// abuseEnv is a gateway with the default limits, reached by clients that
// each come from their own loopback address (so that Caddy sees distinct
// client IPs), with a delegation hook that counts its calls and a customer
// backend whose key signs verification tokens.
type abuseEnv struct {
	bases   []string
	codes   *otpReceiver
	hook    *sdkHook
	backend *testIdP
	key     *idpKey
}

// abuseConfig varies the gateways of an abuseEnv.
type abuseConfig struct {
	instances  int    // default 1
	store      string // a `store` line; default memory
	options    string // more stepup options
	otpOptions string // more otp options
	grantedFor string // profile:write's session-bound grant; default 31s
	global     string // more global options
}

// startAbuseGateways runs the gateways of cfg, sharing a signing key.
func startAbuseGateways(t *testing.T, cfg abuseConfig) *abuseEnv {
	t.Helper()
	if cfg.instances == 0 {
		cfg.instances = 1
	}
	if cfg.store == "" {
		cfg.store = "store memory"
	}
	if cfg.grantedFor == "" {
		cfg.grantedFor = "31s"
	}
	env := &abuseEnv{codes: newOTPReceiver(t), hook: newSDKHook(t), key: newRSAKey(t, "backend-1")}
	env.backend = newIdP(t, "https://backend.test", env.key)
	keyFile := sharedSigningKey(t)
	for i := 0; i < cfg.instances; i++ {
		port := testcaddy.FreePort(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	%[10]s
	stepup {
		issuer http://gateway.test
		external_url %[1]s
		signing_key %[2]s
		%[3]s
		login otp phone_number
		otp {
			sender webhook %[4]s/send
			resend_cooldown 1ms
			%[8]s
		}
		custom_steps {
			jwks_url %[5]s
			keys kyc_review
			algorithms RS256
			issuer https://backend.test
			audience gateway-test
			max_lifetime 10m
		}
		scope transfer:write {
			delegated %[6]s
		}
		scope profile:write {
			direct {
				step verify_sms
				granted_for %[9]s
				grant_mode session-bound
			}
		}
		scope kyc:write {
			direct {
				step kyc_review
			}
		}
		cors https://app.example.com
		%[7]s
	}
}

%[1]s {
	stepup_session
	route /api/profile* {
		stepup profile:write
		respond "profile" 200
	}
	respond 404
}
`, base, keyFile, cfg.store, env.codes.srv.URL, env.backend.jwksURL(), env.hook.srv.URL, cfg.options, cfg.otpOptions, cfg.grantedFor, cfg.global),
			WaitFor: []string{base + "/.well-known/jwks.json"}})
		env.bases = append(env.bases, base)
	}
	return env
}

// from is a session client of gateway i whose connections come from the
// loopback address ip.
func (env *abuseEnv) from(t *testing.T, i int, ip string) *sessionclient.Client {
	t.Helper()
	c := sessionclient.New(env.bases[i])
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	c.HTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return c
}

// login logs c in by phone; device, when set, is sent as the device cookie.
// It returns the device cookie the login earned.
func (env *abuseEnv) login(t *testing.T, c *sessionclient.Client, phone, device string) string {
	t.Helper()
	start, err := env.start(c, phone, device)
	if err != nil || start.Status != http.StatusNoContent {
		t.Fatalf("login/otp for %s: %v %v", phone, start, err)
	}
	checked, err := c.CheckLogin(env.codes.lastCode(t, phone))
	if err != nil || checked.Status != http.StatusOK {
		t.Fatalf("login/otp/check: %v %v", checked, err)
	}
	return cookieValue(checked.Header, "__Host-stepup-device")
}

// start calls /login/otp with a device cookie, if given.
func (env *abuseEnv) start(c *sessionclient.Client, phone, device string) (*sessionclient.Response, error) {
	req := sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp",
		Body: map[string]any{"identifier": map[string]string{"type": "phone_number", "value": phone}}}
	if device != "" {
		req.Header = http.Header{"Cookie": {"__Host-stepup-device=" + device}}
	}
	return c.Do(req) // the client keeps the login cookie
}

// cookieValue is the value a response sets for cookie name.
func cookieValue(h http.Header, name string) string {
	for _, line := range h.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	return ""
}
