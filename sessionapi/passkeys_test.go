package sessionapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/softauthn"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// The passkey relying party of these tests is the API's own origin.
const androidOrigin = "android:apk-key-hash:OCPWMiMLxAl8oL5nZy2GqYXgSOUdq0rR8RmRq8u7TAo"

// newPasskeyEnv is the API with passkeys on: the enrolment scope by SMS
// code, and pay:confirm by passkey.
func newPasskeyEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil, func(cfg *stepup.Config) {
		cfg.Passkeys = &stepup.PasskeyPolicy{RPID: "api.test", RPName: "API", Origins: []string{origin, androidOrigin},
			Login: true, ACR: "phr", HardwareACR: "phrh"}
		step := func(key string) *stepup.DirectPolicy {
			return &stepup.DirectPolicy{GrantMode: stepup.GrantSingleUse, GrantedFor: time.Minute,
				Steps: []stepup.DirectStep{{Key: key, Expiration: time.Minute}}}
		}
		cfg.Scopes[stepup.PasskeyWriteScope] = stepup.ScopePolicy{Direct: step(stepup.StepVerifySMS)}
		cfg.Scopes["pay:confirm"] = stepup.ScopePolicy{Direct: step(stepup.StepVerifyPasskey)}
	})
}

// want fails unless r has status and, for a refusal, code.
func want(t *testing.T, what string, r *sessionclient.Response, err error, status int, code string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if r.Status != status || (code != "" && r.Code() != code) {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Status, r.Body, status, code)
	}
	if r.Header.Get("Date") == "" {
		t.Fatalf("%s: no Date header", what)
	}
}

// stepUpTo completes a step-up to scope with the SMS code and redeems it.
func (e *env) stepUpTo(t *testing.T, c *sessionclient.Client, scope string) {
	t.Helper()
	r, err := c.RequestStepUp(scope, nil)
	want(t, "stepup/request", r, err, 200, "")
	tok := r.String("challenge_token")
	r, err = c.SendOTP(tok)
	want(t, "otp", r, err, 204, "")
	r, err = c.CheckOTP(tok, e.codes.last())
	want(t, "otp/check", r, err, 200, "")
	r, err = c.Refresh(r.String("challenge_token"))
	want(t, "refresh with the completed challenge", r, err, 200, "")
}

// enrol enrols a passkey of a for c, as platform sends the calls.
func (e *env) enrol(t *testing.T, c *sessionclient.Client, platform string, a *softauthn.Authenticator) *softauthn.Credential {
	t.Helper()
	e.stepUpTo(t, c, stepup.PasskeyWriteScope)
	r, err := c.BeginPasskeyRegistration(platform, "ada@example.com", "Ada", "phone")
	want(t, "register/begin", r, err, 200, "")
	cred, attestation, err := a.Create(r.RawJSON("public_key"), softauthn.Ceremony{Origin: origin, Shape: platform})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.FinishPasskeyRegistration(platform, r.String("registration_token"), attestation)
	want(t, "register/finish", r, err, 200, "")
	got, _ := r.JSON["credential"].(map[string]any)
	if got["credential_id"] != cred.IDText() || got["nickname"] != "phone" || r.JSON["already_registered"] != false {
		t.Fatalf("register/finish answered %s", r.Body)
	}
	return cred
}

// TestPasskeysOverHTTP drives every passkey call as the SDKs send them:
// enrolment with the Bearer alone (iOS, reduced attestation) and with a
// DPoP proof too (Android), a step-up whose continue carries no Bearer
// (Android) and one that does (iOS), a passkey login and its finalize, the
// list, a rename and a deletion.
func TestPasskeysOverHTTP(t *testing.T) {
	e := newPasskeyEnv(t)
	c := e.login(t)
	a := &softauthn.Authenticator{}

	r, err := c.BeginPasskeyRegistration(sessionclient.IOS, "ada@example.com", "", "")
	want(t, "enrolment without the scope", r, err, 403, "insufficient_scope")
	ios := e.enrol(t, c, sessionclient.IOS, a)
	android := e.enrol(t, c, sessionclient.Android, a)
	r, err = c.BeginPasskeyRegistration(sessionclient.IOS, "ada@example.com", "", "")
	want(t, "a second enrolment with the spent scope", r, err, 403, "insufficient_scope")

	r, err = c.ListPasskeys(sessionclient.Android)
	want(t, "list", r, err, 200, "")
	if list, _ := r.JSON["credentials"].([]any); len(list) != 2 {
		t.Fatalf("list: %s", r.Body)
	}

	for _, platform := range []string{sessionclient.Android, sessionclient.IOS} {
		cred := map[string]*softauthn.Credential{sessionclient.Android: android, sessionclient.IOS: ios}[platform]
		r, err = c.RequestStepUp("pay:confirm", nil)
		want(t, "stepup/request", r, err, 200, "")
		options := r.RawJSON("public_key_credential_request_options")
		if !strings.Contains(string(options), `"rpId":"api.test"`) || !strings.Contains(string(options), cred.IDText()) {
			t.Fatalf("%s: request options %s", platform, options)
		}
		assertion, err := a.Get(options, cred, softauthn.Ceremony{Origin: origin, Shape: platform})
		if err != nil {
			t.Fatal(err)
		}
		r, err = c.ContinueWithPasskey(platform, r.String("challenge_token"), assertion)
		want(t, platform+": stepup/continue", r, err, 200, "")
		if got := sessionclient.Claims(r.String("challenge_token"))["current_step"]; got != "completed" {
			t.Fatalf("%s: current step %v", platform, got)
		}
		r, err = c.Refresh(r.String("challenge_token"))
		want(t, platform+": redeem", r, err, 200, "")
		if acr := sessionclient.Claims(c.AccessToken)["acr"]; acr != "phrh" {
			t.Fatalf("%s: acr %v after a device-bound passkey", platform, acr)
		}
	}

	// Passkey login from a new device, finalized with its own key.
	d := e.client()
	r, err = d.BeginPasskeyLogin()
	want(t, "login/passkey/begin", r, err, 200, "")
	if strings.Contains(string(r.RawJSON("public_key")), "allowCredentials") {
		t.Fatalf("login options name credentials: %s", r.RawJSON("public_key"))
	}
	assertion, err := a.Get(r.RawJSON("public_key"), ios, softauthn.Ceremony{Origin: origin, Shape: sessionclient.IOS})
	if err != nil {
		t.Fatal(err)
	}
	r, err = d.FinishPasskeyLogin(r.String("login_token"), assertion)
	want(t, "login/passkey/finish", r, err, 200, "")
	r, err = d.Finalize(r.String("challenge_token"), "")
	want(t, "login/finalize", r, err, 200, "")
	if r.Header.Get("X-Refresh-Token") == "" || r.String("access_token") == "" {
		t.Fatalf("finalize answered no tokens: %v %s", r.Header, r.Body)
	}

	r, err = c.RenamePasskey(sessionclient.Android, ios.IDText(), "old phone")
	want(t, "rename", r, err, 204, "")
	r, err = c.DeletePasskey(sessionclient.IOS, android.IDText())
	want(t, "delete", r, err, 204, "")
	r, err = c.DeletePasskey(sessionclient.IOS, android.IDText())
	want(t, "delete again", r, err, 404, "not_found")
	r, err = c.ListPasskeys(sessionclient.IOS)
	want(t, "list", r, err, 200, "")
	list, _ := r.JSON["credentials"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["nickname"] != "old phone" {
		t.Fatalf("list after rename and delete: %s", r.Body)
	}
}

// TestPasskeyContinueRefusals: without an access token the
// challenge-bound proof of the session's key is the only way in; a bad
// token is refused even with a good proof; never a 401 for a passkey's
// own refusal.
func TestPasskeyContinueRefusals(t *testing.T) {
	e := newPasskeyEnv(t)
	c := e.login(t)
	a := &softauthn.Authenticator{}
	cred := e.enrol(t, c, sessionclient.Android, a)
	r, err := c.RequestStepUp("pay:confirm", nil)
	want(t, "stepup/request", r, err, 200, "")
	tok, options := r.String("challenge_token"), r.RawJSON("public_key_credential_request_options")
	assertion, err := a.Get(options, cred, softauthn.Ceremony{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"challenge_token":"` + tok + `","passkey_assertion":` + string(assertion) + `}`
	jti, _ := sessionclient.Claims(tok)["jti"].(string)
	stranger := e.client() // another key
	cases := []struct {
		name   string
		header http.Header
		body   string
		status int
		code   string
	}{
		{"no proof, no token", nil, body, 400, "missing_dpop_proof"},
		{"another key's proof", http.Header{"Dpop": {stranger.Proof("POST", Prefix+"/stepup/continue", jti, "")}}, body, 400, "dpop_key_mismatch"},
		{"a proof of another jti", http.Header{"Dpop": {c.Proof("POST", Prefix+"/stepup/continue", "other", "")}}, body, 400, "invalid_dpop_proof"},
		{"a proof for another URL", http.Header{"Dpop": {c.Proof("POST", Prefix+"/otp/check", jti, "")}}, body, 400, "invalid_dpop_proof"},
		{"a forged access token", http.Header{"Dpop": {c.Proof("POST", Prefix+"/stepup/continue", jti, "")},
			"Authorization": {"Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}}, body, 401, "unauthorized"},
		{"a verification token too", http.Header{"Dpop": {c.Proof("POST", Prefix+"/stepup/continue", jti, "")}},
			`{"challenge_token":"` + tok + `","verification_token":"x","passkey_assertion":` + string(assertion) + `}`, 400, "bad_request"},
		{"an assertion that is not one", http.Header{"Dpop": {c.Proof("POST", Prefix+"/stepup/continue", jti, "")}},
			`{"challenge_token":"` + tok + `","passkey_assertion":{"id":"x"}}`, 400, "passkey_step_unavailable"},
	}
	for _, tc := range cases {
		w := e.call("POST", Prefix+"/stepup/continue", tc.body, tc.header)
		if w.Code != tc.status || decode(t, w).Code != tc.code {
			t.Fatalf("%s: %d %s, want %d %s", tc.name, w.Code, w.Body, tc.status, tc.code)
		}
	}
	// After every refusal, the honest Android request still passes.
	r, err = c.ContinueWithPasskey(sessionclient.Android, tok, assertion)
	want(t, "the honest request", r, err, 200, "")

	// A logged-out session's proof no longer stands for an access token.
	r, err = c.RequestStepUp("pay:confirm", nil)
	want(t, "stepup/request", r, err, 200, "")
	tok, options = r.String("challenge_token"), r.RawJSON("public_key_credential_request_options")
	if assertion, err = a.Get(options, cred, softauthn.Ceremony{Origin: origin}); err != nil {
		t.Fatal(err)
	}
	r, err = c.Revoke()
	want(t, "logout", r, err, 204, "")
	r, err = c.ContinueWithPasskey(sessionclient.Android, tok, assertion)
	want(t, "a logged-out session's proof", r, err, 401, "unauthorized")
}

// TestPasskeyEndpointsOff: without a passkey block every passkey call says
// so, and the methods of one credential are PATCH and DELETE.
func TestPasskeyEndpointsOff(t *testing.T) {
	e := newEnv(t)
	c := e.login(t)
	for _, path := range []string{"/me/passkeys/register/begin", "/me/passkeys/register/finish", "/login/passkey/begin", "/login/passkey/finish"} {
		r, err := c.Do(sessionclient.Request{Method: "POST", Path: Prefix + path, Body: map[string]any{}, Bearer: true})
		want(t, path, r, err, 403, "passkey_not_configured")
	}
	r, err := c.ListPasskeys(sessionclient.IOS)
	want(t, "list", r, err, 403, "passkey_not_configured")
	w := e.call("PUT", Prefix+"/me/passkeys/abc", "{}", nil)
	if w.Code != 405 || w.Header().Get("Allow") != "PATCH, DELETE" {
		t.Fatalf("PUT on a credential: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

// TestDateOnEveryAnswer: the session API's answers, refusals and
// preflights included, carry Date from the clock that judges DPoP proofs.
func TestDateOnEveryAnswer(t *testing.T) {
	e := newEnv(t, "https://app.test")
	skewed := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	e.api.cfg.Now = func() time.Time { return skewed }
	for _, tc := range []struct{ method, path string }{{"POST", "/login/otp"}, {"GET", "/me/list"}, {"OPTIONS", "/refresh"}, {"GET", "/nope"}} {
		w := e.call(tc.method, Prefix+tc.path, "{}", http.Header{"Origin": {"https://app.test"}})
		if got := w.Header().Get("Date"); got != skewed.Format(http.TimeFormat) {
			t.Errorf("%s %s: Date %q, want %q", tc.method, tc.path, got, skewed.Format(http.TimeFormat))
		}
	}
	w := e.call("OPTIONS", Prefix+"/me/passkeys/abc", "", http.Header{"Origin": {"https://app.test"}, "Access-Control-Request-Method": {"DELETE"}})
	if !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "DELETE") ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "X-Device-Id") {
		t.Fatalf("preflight allows %q with headers %q", w.Header().Get("Access-Control-Allow-Methods"), w.Header().Get("Access-Control-Allow-Headers"))
	}
}

// TestReloginEndsThePreviousSession: /login/finalize with the previous
// session's refresh token and key ends that session; with another key, or
// a made-up token, nothing else ends and the login stands.
func TestReloginEndsThePreviousSession(t *testing.T) {
	e := newPasskeyEnv(t)
	c := e.login(t)
	a := &softauthn.Authenticator{}
	cred := e.enrol(t, c, sessionclient.IOS, a)
	passkeyLogin := func(d *sessionclient.Client, previous string) *sessionclient.Response {
		t.Helper()
		r, err := d.BeginPasskeyLogin()
		want(t, "begin", r, err, 200, "")
		assertion, err := a.Get(r.RawJSON("public_key"), cred, softauthn.Ceremony{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		r, err = d.FinishPasskeyLogin(r.String("login_token"), assertion)
		want(t, "finish", r, err, 200, "")
		r, err = d.Do(sessionclient.Request{Method: "POST", Path: Prefix + "/login/finalize", SessionDPoP: true,
			Body: map[string]string{"challenge_token": r.String("challenge_token")}, Header: http.Header{"X-Refresh-Token": {previous}}})
		want(t, "finalize", r, err, 200, "")
		return r
	}
	// Another device presenting c's refresh token ends nothing.
	stranger := e.client()
	passkeyLogin(stranger, c.RefreshToken)
	r, err := c.Refresh("")
	want(t, "the first session after a stranger's re-login", r, err, 200, "")
	// The same device (same key) logging in again ends its old session.
	old := c.RefreshToken
	passkeyLogin(c, old)
	r, err = (&sessionclient.Client{Base: c.Base, Origin: c.Origin, HTTP: c.HTTP, Key: c.Key, RefreshToken: old}).Refresh("")
	want(t, "the replaced session", r, err, 401, "unauthorized")
	r, err = c.Refresh("")
	want(t, "the new session", r, err, 200, "")
	sessions, err := e.api.cfg.Engine.AdminSessions(context.Background(), sessionclient.Claims(c.AccessToken)["sub"].(string))
	if err != nil || len(sessions) != 2 {
		t.Fatalf("the user's sessions: %d (%v), want the stranger's and the new one", len(sessions), err)
	}
}

// TestDeviceIDIsKeptNotTrusted: X-Device-Id is recorded on the session
// when it is a short ID, and ignored (never refused) otherwise.
func TestDeviceIDIsKeptNotTrusted(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ sent, kept string }{
		{"3F2504E0-4F89-11D3-9A0C-0305E82C3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
		{"a b", ""}, {strings.Repeat("a", 65), ""}, {"id\u00e9", ""},
	} {
		c := e.client()
		hdr := http.Header{"X-Device-Id": {tc.sent}}
		r, err := c.Do(sessionclient.Request{Method: "POST", Path: Prefix + "/login/otp", Header: hdr,
			Body: map[string]any{"identifier": map[string]string{"type": "phone_number", "value": "+33612345678"}}})
		want(t, "login/otp", r, err, 204, "")
		c.Verification = r.Header.Get("X-Verification-Token")
		r, err = c.Do(sessionclient.Request{Method: "POST", Path: Prefix + "/login/otp/check", Header: http.Header{"X-Device-Id": {tc.sent},
			"X-Verification-Token": {c.Verification}}, Body: map[string]string{"code": e.codes.last()}, SessionDPoP: true})
		want(t, "login/otp/check", r, err, 200, "")
		sid, _ := sessionclient.Claims(c.AccessToken)["sid"].(string)
		sessions, err := e.api.cfg.Engine.AdminSessions(context.Background(), sessionclient.Claims(c.AccessToken)["sub"].(string))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range sessions {
			if s.ID == sid {
				found = true
				if s.DeviceID != tc.kept {
					t.Errorf("X-Device-Id %q kept as %q, want %q", tc.sent, s.DeviceID, tc.kept)
				}
			}
		}
		if !found {
			t.Fatalf("session %s is not among the user's sessions", sid)
		}
	}
}
