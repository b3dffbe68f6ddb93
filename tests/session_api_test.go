package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

type sessionEnv struct {
	base  string
	codes *otpReceiver
	caddy *testcaddy.Instance
}

// startSessionAPI runs a gateway serving the session API over plain HTTP
// on loopback (Go clients send the refresh token and OTP context as
// headers, so Secure cookies are not needed), with the given store line.
func startSessionAPI(t *testing.T, storeLine string) *sessionEnv {
	t.Helper()
	env := &sessionEnv{codes: newOTPReceiver(t)}
	port := testcaddy.FreePort(t)
	env.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	env.caddy = testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %s
		%s
		login otp phone_number email_address
		otp {
			sender webhook %s/send
		}
		cors https://app.example.com
	}
}
http://127.0.0.1:%d {
	stepup_session
}
`, env.base, storeLine, env.codes.srv.URL, port), WaitFor: []string{env.base + "/.well-known/jwks.json"}})
	return env
}

func login(t *testing.T, env *sessionEnv, phone string) *sessionclient.Client {
	t.Helper()
	c := sessionclient.New(env.base)
	if resp, err := c.StartLogin("phone_number", phone); err != nil || resp.Status != 204 {
		t.Fatalf("start login: %v %v", resp, err)
	}
	resp, err := c.CheckLogin(env.codes.lastCode(t, phone))
	if err != nil || resp.Status != 200 {
		t.Fatalf("check login: %v %v", resp, err)
	}
	return c
}

func expect(t *testing.T, resp *sessionclient.Response, err error, status int, code string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != status || resp.Code() != code {
		t.Fatalf("got %d %s, want %d %q", resp.Status, resp.Body, status, code)
	}
	if status >= 400 && (resp.Header.Get("Content-Type") != "application/json" || resp.String("message") == "" || resp.String("type") == "") {
		t.Fatalf("error body is not the SDK's JSON shape: %s %s", resp.Header.Get("Content-Type"), resp.Body)
	}
}

func TestOTPLoginOverTheSessionAPI(t *testing.T) {
	env := startSessionAPI(t, "")
	c := sessionclient.New(env.base)

	resp, err := c.StartLogin("phone_number", "+14155550100")
	expect(t, resp, err, 204, "")
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(cookie, "__Host-stepup-login=vfy_") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "Secure") || !strings.Contains(cookie, "Path=/") {
		t.Errorf("login cookie %q", cookie)
	}
	first := env.codes.lastCode(t, "+14155550100")
	if len(first) != 6 {
		t.Fatalf("code %q is not 6 digits", first)
	}

	// Without a proof, then a first proof without nonce: the nonce dance.
	resp, err = c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp/check", Body: map[string]string{"code": first},
		LoginFlow: true})
	expect(t, resp, err, 400, "missing_dpop_proof")
	resp, err = c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp/check", Body: map[string]string{"code": first},
		LoginFlow: true, Header: http.Header{"DPoP": {c.Proof("POST", "/v1/session/login/otp/check", "j1", "")}}})
	expect(t, resp, err, 400, "use_dpop_nonce")
	if resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	// RFC 9449 §8: an OAuth client reads the demand from the error member.
	if resp.JSON["error"] != "use_dpop_nonce" {
		t.Errorf("nonce demand %s has no error member", resp.Body)
	}

	resp, err = c.CheckLogin("000000")
	expect(t, resp, err, 400, "bad_check_code")
	if resp.Header.Get("DPoP-Nonce") == "" {
		t.Error("error response to a DPoP request has no DPoP-Nonce")
	}

	resp, err = c.CheckLogin(first)
	expect(t, resp, err, 200, "")
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresAt   any    `json:"expires_at"`
	}
	_ = json.Unmarshal(resp.Body, &body)
	if _, isNumber := body.ExpiresAt.(float64); !isNumber {
		t.Errorf("expires_at %v is not a number", body.ExpiresAt)
	}
	claims := sessionclient.Claims(body.AccessToken)
	if !strings.HasPrefix(claims["sub"].(string), "usr_") || !strings.HasPrefix(claims["sid"].(string), "ses_") || claims["iss"] != env.base {
		t.Errorf("claims %v", claims)
	}
	if _, ok := claims["scope"].(string); !ok {
		t.Errorf("scope claim %v is not a string", claims["scope"])
	}
	// The refresh token is in the X-Refresh-Token header (with its expiry)
	// and in the HttpOnly cookie, the same value.
	if v := resp.Header.Get("X-Refresh-Token"); v == "" || v != c.RefreshToken || resp.Header.Get("X-Refresh-Token-Expires-At") == "" {
		t.Errorf("refresh headers %v", resp.Header)
	}
	if rc := setCookie(resp.Header, "__Host-stepup-refresh"); !strings.HasPrefix(rc, "__Host-stepup-refresh="+claims["sid"].(string)+".") ||
		!strings.Contains(rc, "HttpOnly") || !strings.Contains(rc, "Secure") {
		t.Errorf("refresh cookie %q", rc)
	}

	// The flow is used up.
	resp, err = c.CheckLogin(first)
	expect(t, resp, err, 400, "bad_request")
}

func setCookie(h http.Header, name string) string {
	for _, c := range h.Values("Set-Cookie") {
		if strings.HasPrefix(c, name+"=") {
			return c
		}
	}
	return ""
}

func TestRefreshRotatesAndIsBoundToTheKey(t *testing.T) {
	env := startSessionAPI(t, "")
	c := login(t, env, "+14155550101")
	sid := sessionclient.Claims(c.AccessToken)["sid"]
	firstRefresh := c.RefreshToken

	resp, err := c.Refresh("")
	expect(t, resp, err, 200, "")
	if c.RefreshToken == firstRefresh || sessionclient.Claims(c.AccessToken)["sid"] != sid {
		t.Fatal("refresh did not rotate the token or changed the session")
	}

	// Another key with the session's refresh token.
	thief := sessionclient.New(env.base)
	thief.RefreshToken = c.RefreshToken
	resp, err = thief.Refresh("")
	expect(t, resp, err, 400, "dpop_key_mismatch")

	// No refresh token, or a made-up one.
	other := sessionclient.New(env.base)
	resp, err = other.Refresh("")
	expect(t, resp, err, 401, "unauthorized")
	other.RefreshToken = "ses_AAAAAAAAAAAAAAAAAAAAAA." + strings.Repeat("A", 43)
	resp, err = other.Refresh("")
	expect(t, resp, err, 401, "unauthorized")

	// The same proof twice.
	proof := c.Proof("POST", "/v1/session/refresh", "replayed-jti", c.Nonce)
	h := http.Header{"DPoP": {proof}}
	resp, err = c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/refresh", Refresh: true, Header: h})
	expect(t, resp, err, 200, "")
	resp, err = c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/refresh", Refresh: true, Header: h})
	expect(t, resp, err, 400, "invalid_dpop_proof")
}

func TestSessionListAndRevocation(t *testing.T) {
	env := startSessionAPI(t, "")
	a := login(t, env, "+14155550102")
	b := login(t, env, "+14155550102") // the same user on a second device

	if sessionclient.Claims(a.AccessToken)["sub"] != sessionclient.Claims(b.AccessToken)["sub"] {
		t.Fatal("two logins with one phone number made two users")
	}
	resp, err := a.Do(sessionclient.Request{Method: "GET", Path: "/v1/session/me/list", Bearer: true})
	expect(t, resp, err, 200, "")
	var list struct {
		Sessions []struct {
			ID        string `json:"id"`
			CreatedAt string `json:"created_at"`
		} `json:"sessions"`
		Total, Limit, Offset int
	}
	_ = json.Unmarshal(resp.Body, &list)
	if list.Total != 2 || len(list.Sessions) != 2 || list.Limit != 10 || list.Sessions[0].CreatedAt == "" {
		t.Fatalf("list %s", resp.Body)
	}
	resp, err = a.Do(sessionclient.Request{Method: "GET", Path: "/v1/session/me/list?limit=0", Bearer: true})
	expect(t, resp, err, 400, "invalid_pagination_limit")
	resp, err = a.Do(sessionclient.Request{Method: "GET", Path: "/v1/session/me/list?offset=-1", Bearer: true})
	expect(t, resp, err, 400, "invalid_pagination_offset")
	resp, err = sessionclient.New(env.base).Do(sessionclient.Request{Method: "GET", Path: "/v1/session/me/list"})
	expect(t, resp, err, 401, "unauthorized")

	resp, err = a.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/me/revoke?target=everything", Bearer: true})
	expect(t, resp, err, 400, "bad_request")
	resp, err = a.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/me/revoke?target=others", Bearer: true})
	expect(t, resp, err, 204, "")
	resp, err = b.Refresh("")
	expect(t, resp, err, 401, "unauthorized")
	resp, err = a.Refresh("")
	expect(t, resp, err, 200, "")

	// Logout ends the session and clears the cookie.
	resp, err = a.Revoke()
	expect(t, resp, err, 204, "")
	if rc := setCookie(resp.Header, "__Host-stepup-refresh"); !strings.Contains(rc, "Max-Age=0") {
		t.Errorf("logout did not clear the refresh cookie: %q", rc)
	}
	resp, err = a.Refresh("")
	expect(t, resp, err, 401, "unauthorized")
}

func TestSessionAPIRefusals(t *testing.T) {
	env := startSessionAPI(t, "")
	c := sessionclient.New(env.base)
	for _, tc := range []struct {
		name           string
		req            sessionclient.Request
		status         int
		code           string
		noDeliveryMade bool
	}{
		{"phone not E.164", sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp", Body: map[string]any{"identifier": map[string]string{"type": "phone_number", "value": "0612345678"}}}, 400, "invalid_identifier", true},
		{"unknown identifier type", sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp", Body: map[string]any{"identifier": map[string]string{"type": "username", "value": "alice"}}}, 400, "invalid_identifier", true},
		{"body not JSON", sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp", Body: "not an object"}, 400, "bad_request", true},
		{"body over 64 KiB", sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp", Body: map[string]string{"pad": strings.Repeat("a", 70<<10)}}, 400, "bad_request", true},
		{"retry without a login", sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp/retry"}, 400, "bad_request", true},
		{"password login", sessionclient.Request{Method: "POST", Path: "/v1/session/login/email/password", Body: map[string]string{"identifier": "a@b.c", "password": "x"}}, 403, "not_configured", true},
		{"oauth", sessionclient.Request{Method: "POST", Path: "/v1/session/login/oauth/google/authorize", Body: map[string]string{}}, 403, "not_configured", true},
		{"password compliancy", sessionclient.Request{Method: "GET", Path: "/v1/session/password/compliancy"}, 403, "not_configured", true},
		{"unknown endpoint", sessionclient.Request{Method: "GET", Path: "/v1/session/nope"}, 404, "not_found", true},
		{"wrong method", sessionclient.Request{Method: "GET", Path: "/v1/session/refresh"}, 405, "bad_request", true},
		{"step-up without token", sessionclient.Request{Method: "POST", Path: "/v1/session/stepup/request", Body: map[string]string{"scope": "x"}}, 401, "unauthorized", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.codes.count()
			resp, err := c.Do(tc.req)
			expect(t, resp, err, tc.status, tc.code)
			if tc.noDeliveryMade && env.codes.count() != before {
				t.Error("a code was sent")
			}
		})
	}
}

func TestCORSForConfiguredOrigins(t *testing.T) {
	env := startSessionAPI(t, "")
	c := sessionclient.New(env.base)
	preflight := func(origin string) *sessionclient.Response {
		resp, err := c.Do(sessionclient.Request{Method: "OPTIONS", Path: "/v1/session/refresh", Header: http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,dpop,x-refresh-token,x-sdk-user-agent"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := preflight("https://app.example.com")
	if resp.Status != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "DPoP") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Refresh-Token") {
		t.Fatalf("preflight: %d %v", resp.Status, resp.Header)
	}
	if resp := preflight("https://evil.example.com"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("an unlisted origin was allowed")
	}
	resp, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/refresh", Header: http.Header{"Origin": {"https://app.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	exposed := resp.Header.Get("Access-Control-Expose-Headers")
	for _, h := range []string{"DPoP-Nonce", "Date"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("%s not exposed: %q", h, exposed)
		}
	}
	if rc := setCookie(resp.Header, "__Host-stepup-refresh"); rc != "" && !strings.Contains(rc, "SameSite=None") {
		t.Errorf("cross-origin cookie without SameSite=None: %q", rc)
	}
}

func TestSessionAPIFailsClosedWhenRedisIsDown(t *testing.T) {
	const password = "s3cret-redis-password"
	redis := redistest.Start(t, "--requirepass", password)
	env := startSessionAPI(t, "store redis redis://:"+password+"@"+redis.Addr+"/0")
	c := login(t, env, "+14155550103")
	redis.Kill()

	before := env.codes.count()
	resp, err := sessionclient.New(env.base).StartLogin("phone_number", "+14155550104")
	expect(t, resp, err, 503, "internal")
	if env.codes.count() != before {
		t.Error("a code was sent while the store was down")
	}
	resp, err = c.Refresh("")
	expect(t, resp, err, 503, "internal")
	if strings.Contains(string(resp.Body), redis.Addr) || strings.Contains(string(resp.Body), "refused") {
		t.Errorf("the store error leaked to the client: %s", resp.Body)
	}

	// go-redis's own lines (the failed dials) are in Caddy's structured
	// log as stepup.redis warnings, not plain text on stderr.
	var routed int
	for _, line := range strings.Split(strings.TrimSpace(env.caddy.Log()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("a log line is not JSON: %q", line)
			continue
		}
		if entry["logger"] == "stepup.redis" {
			routed++
			if entry["level"] != "warn" || !strings.Contains(entry["msg"].(string), "dial") {
				t.Errorf("go-redis line: %v", entry)
			}
		}
	}
	if routed == 0 {
		t.Error("no stepup.redis line in the log after redis went away")
	}
	if strings.Contains(env.caddy.Log(), password) {
		t.Error("the redis password is in the log")
	}
}

func TestConfigWithUnreachableRedisDoesNotLoad(t *testing.T) {
	out := testcaddy.StartErr(t, fmt.Sprintf(`{
	admin {admin}
	stepup {
		issuer https://gw.test
		store redis redis://127.0.0.1:%d/0
	}
}
http://127.0.0.1:0 {
	stepup_session
}
`, testcaddy.FreePort(t)))
	if !strings.Contains(out, "redis is not reachable") {
		t.Fatalf("log does not say why:\n%s", out)
	}
}
