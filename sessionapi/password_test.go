package sessionapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/password"
)

func withPasswords(cfg *stepup.Config) {
	cfg.Passwords = &stepup.PasswordLogin{Policy: password.Policy{MinLength: 10, Numbers: 1},
		Params: password.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}}
}

// TestPasswordEndpoints: the policy, a sign-up proven by a code (email
// code login itself is off here), password login and /login/finalize, as
// the SDK calls them.
func TestPasswordEndpoints(t *testing.T) {
	e := newEnvWith(t, nil, withPasswords)
	w := e.call("GET", "/v1/session/password/compliancy", "", nil)
	if w.Code != 200 || w.Body.String() != `{"min_length":10,"max_length":128,"uppercase":0,"lowercase":0,"numbers":1,"symbols":0}` {
		t.Fatalf("compliancy: %d %s", w.Code, w.Body)
	}
	c := e.client()
	r, err := c.SignUp("ada@example.com", "short1")
	if err != nil || r.Status != 400 || r.String("code") != "invalid_password" {
		t.Fatalf("weak sign-up: %v %v", r, err)
	}
	r, err = c.SignUp("ada@example.com", "long enough 1")
	ticket := r.String("challenge_token")
	if err != nil || r.Status != 200 || !strings.HasPrefix(ticket, "lgn_") {
		t.Fatalf("sign-up: %v %v", r, err)
	}
	r, err = c.Finalize(ticket, "")
	if err != nil || r.Status != 200 || r.String("status") != "otp_required" || r.String("access_token") != "" ||
		!strings.Contains(r.Header.Get("Set-Cookie"), loginCookie+"=vfy_") || c.Verification == "" {
		t.Fatalf("finalize of a sign-up: %v %v", r, err)
	}
	if r, err := c.CheckLogin(e.codes.last()); err != nil || r.Status != 200 || c.AccessToken == "" {
		t.Fatalf("the sign-up's code: %v %v", r, err)
	}

	other := e.client()
	wrong, _ := other.PasswordLogin("ada@example.com", "long enough 2")
	unknown, _ := other.PasswordLogin("bob@example.com", "long enough 1")
	if wrong.Status != 401 || string(wrong.Body) != string(unknown.Body) || unknown.Status != 401 || wrong.String("code") != "unauthorized" {
		t.Fatalf("wrong password %d %s, unknown address %d %s: want one 401 unauthorized", wrong.Status, wrong.Body, unknown.Status, unknown.Body)
	}
	r, err = other.PasswordLogin("ada@example.com", "long enough 1")
	ticket = r.String("challenge_token")
	if err != nil || r.Status != 200 || ticket == "" {
		t.Fatalf("password login: %v %v", r, err)
	}
	expect(t, e.call("POST", "/v1/session/login/finalize", `{"challenge_token":"`+ticket+`"}`, nil), 400, "missing_dpop_proof")
	r, err = other.Finalize(ticket, "")
	if err != nil || r.Status != 200 || other.AccessToken == "" || other.RefreshToken == "" || r.Header.Get(refreshHeader) != other.RefreshToken ||
		!strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), "\n"), deviceCookie+"=") {
		t.Fatalf("finalize: %v %v", r, err)
	}
	if r, _ := other.Finalize(ticket, ""); r.Status != 400 || r.String("code") != "invalid_challenge_token" {
		t.Errorf("finalized twice: %v", r)
	}
	for _, body := range []string{"ada", "", "[]", `{"identifier":1}`} {
		expect(t, e.call("POST", "/v1/session/login/email/password", body, nil), 400, "bad_request")
	}
}

// TestPasswordEndpointsOff: without `login password`, every password
// endpoint is not_configured before anything else.
func TestPasswordEndpointsOff(t *testing.T) {
	e := newEnv(t)
	for path, method := range map[string]string{"/v1/session/login/email/password": "POST", "/v1/session/login/email/sign-up": "POST",
		"/v1/session/login/finalize": "POST", "/v1/session/password/compliancy": "GET"} {
		expect(t, e.call(method, path, `{"identifier":"a@example.com","password":"long enough 1"}`, http.Header{}), 403, "not_configured")
	}
}
