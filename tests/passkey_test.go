package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/softauthn"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// Passkeys through the real caddy, as the quick start's page and the
// mobile SDKs call them: the relying party is the quick start's
// (localhost, https://localhost:8443), the authenticator a software one.

const (
	passkeyPage    = "https://localhost:8443"
	passkeyAndroid = "android:apk-key-hash:OCPWMiMLxAl8oL5nZy2GqYXgSOUdq0rR8RmRq8u7TAo"
)

// startPasskeyGateway serves, on store:
//
//	/api/pay    pay:confirm (a passkey step-up, single-use), acr phrh or phr
//	/api/notify profile:notify (an SMS code), any acr
func startPasskeyGateway(t *testing.T, store, codesURL, upstreamURL string) string {
	t.Helper()
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://gateway.test
		external_url %[1]s
		%[2]s
		login otp phone_number
		otp {
			sender webhook %[3]s/send
		}
		passkey {
			rp_id localhost
			rp_name "Stepup demo"
			allowed_origins %[5]s https://localhost %[6]s
			login_enabled
			acr phr
			acr_hardware phrh
		}
		scope pay:confirm {
			direct {
				step verify_passkey 5m
				granted_for 5m
			}
		}
		scope profile:notify {
			direct {
				step verify_sms 5m
			}
		}
	}
}

%[1]s {
	stepup_session
	route /api/pay* {
		stepup pay:confirm {
			acr phrh phr
		}
		reverse_proxy %[4]s
	}
	route /api/notify* {
		stepup profile:notify
		reverse_proxy %[4]s
	}
	respond 404
}
`, base, store, codesURL, upstreamURL, passkeyPage, passkeyAndroid),
		WaitFor: []string{base + "/.well-known/jwks.json"}})
	return base
}

// must checks the answer of a call: its status (and, for a refusal, its
// code), and the Date header every answer carries.
func must(t *testing.T, what string, status int, code string) func(*sessionclient.Response, error) *sessionclient.Response {
	return func(r *sessionclient.Response, err error) *sessionclient.Response {
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
		return r
	}
}

// TestPasskeyJourneyThroughCaddy: enrolment (after a step-up to
// prld:passkey:write by SMS), a passkey step-up to a route that requires
// the passkey acr, the legacy API called once (200, then 401), and a
// passkey login finalized into a DPoP-bound session; enrolment as iOS
// sends it (Bearer only, reduced attestation) and as Android does (a DPoP
// proof too, Credential Manager's JSON, its app origin), step-ups with
// Android's continue (no Bearer) and iOS's. On memory, Redis and Cluster.
func TestPasskeyJourneyThroughCaddy(t *testing.T) {
	for _, st := range sdkStores {
		t.Run(st.name, func(t *testing.T) {
			codes := newOTPReceiver(t)
			api := newUpstream(t)
			base := startPasskeyGateway(t, st.store(t), codes.srv.URL, api.srv.URL)
			c := sessionclient.New(base)
			c.HTTP = newClient(t)
			const phone = "+33612345678"
			must(t, "login/otp", 204, "")(c.StartLogin("phone_number", phone))
			must(t, "login/otp/check", 200, "")(c.CheckLogin(codes.last(t, "login").Code))

			pay := sessionclient.Request{Method: http.MethodPost, Path: "/api/pay", Bearer: true}
			r := must(t, "pay before the step-up", 401, "step_up_required")(c.Do(pay))
			if !strings.Contains(string(r.Body), `"scope":"pay:confirm"`) || !strings.Contains(r.Header.Get("WWW-Authenticate"), `acr_values="phrh phr"`) {
				t.Fatalf("the route's challenge does not name the passkey scope: %s %s", r.Header.Get("WWW-Authenticate"), r.Body)
			}
			must(t, "/me/passkeys/register/begin without the scope", 403, "insufficient_scope")(c.BeginPasskeyRegistration(sessionclient.IOS, "ada", "", ""))

			a := &softauthn.Authenticator{CountFrom: 1}
			enrol := func(platform string, cer softauthn.Ceremony) *softauthn.Credential {
				t.Helper()
				r := must(t, "stepup/request prld:passkey:write", 200, "")(c.RequestStepUp("prld:passkey:write", nil))
				tok := r.String("challenge_token")
				if sessionclient.Claims(tok)["current_step"] != "verify_sms" {
					t.Fatalf("the built-in enrolment step-up: %v", sessionclient.Claims(tok))
				}
				must(t, "/otp", 204, "")(c.SendOTP(tok))
				r = must(t, "/otp/check", 200, "")(c.CheckOTP(tok, codes.last(t, "step_up").Code))
				must(t, "/refresh with the step-up", 200, "")(c.Refresh(r.String("challenge_token")))
				r = must(t, "/me/passkeys/register/begin", 200, "")(c.BeginPasskeyRegistration(platform, "ada@example.com", "Ada", platform))
				cred, attestation, err := a.Create(r.RawJSON("public_key"), cer)
				if err != nil {
					t.Fatal(err)
				}
				r = must(t, "/me/passkeys/register/finish", 200, "")(c.FinishPasskeyRegistration(platform, r.String("registration_token"), attestation))
				if got, _ := r.JSON["credential"].(map[string]any); got["credential_id"] != cred.IDText() {
					t.Fatalf("registered %s", r.Body)
				}
				return cred
			}
			ios := enrol(sessionclient.IOS, softauthn.Ceremony{Origin: "https://localhost", Shape: softauthn.ShapeIOS})
			android := enrol(sessionclient.Android, softauthn.Ceremony{Origin: passkeyAndroid, Shape: softauthn.ShapeAndroid})
			r = must(t, "/me/passkeys", 200, "")(c.ListPasskeys(sessionclient.IOS))
			if list, _ := r.JSON["credentials"].([]any); len(list) != 2 {
				t.Fatalf("list: %s", r.Body)
			}

			for _, tc := range []struct {
				platform string
				cred     *softauthn.Credential
				cer      softauthn.Ceremony
			}{
				{sessionclient.Android, android, softauthn.Ceremony{Origin: passkeyAndroid, Shape: softauthn.ShapeAndroid}},
				{sessionclient.IOS, ios, softauthn.Ceremony{Origin: passkeyPage, Shape: softauthn.ShapeIOS}},
			} {
				r = must(t, "/stepup/request pay:confirm", 200, "")(c.RequestStepUp("pay:confirm", map[string]string{"amount": "500"}))
				options := r.RawJSON("public_key_credential_request_options")
				if !strings.Contains(string(options), `"rpId":"localhost"`) || !strings.Contains(string(options), tc.cred.IDText()) {
					t.Fatalf("request options: %s", options)
				}
				assertion, err := a.Get(options, tc.cred, tc.cer)
				if err != nil {
					t.Fatal(err)
				}
				r = must(t, tc.platform+": /stepup/continue", 200, "")(c.ContinueWithPasskey(tc.platform, r.String("challenge_token"), assertion))
				r = must(t, "/refresh with the passkey step-up", 200, "")(c.Refresh(r.String("challenge_token")))
				if r.Header.Get("X-Refresh-Token") == "" || r.Header.Get("X-Refresh-Token-Expires-At") == "" {
					t.Fatalf("refresh answered without the rotated refresh token headers: %v", r.Header)
				}
				claims := sessionclient.Claims(c.AccessToken)
				if claims["acr"] != "phrh" || fmt.Sprint(claims["amr"]) != "[hwk pin]" {
					t.Fatalf("%s: acr %v amr %v", tc.platform, claims["acr"], claims["amr"])
				}
				before := api.hits.Load()
				must(t, "pay with the passkey step-up", 200, "")(c.Do(pay))
				must(t, "pay again", 401, "step_up_required")(c.Do(pay))
				if got := api.hits.Load() - before; got != 1 {
					t.Fatalf("%s: the legacy API was called %d times, want 1", tc.platform, got)
				}
			}

			// An SMS step-up never earns the passkey acr.
			r = must(t, "/stepup/request profile:notify", 200, "")(c.RequestStepUp("profile:notify", nil))
			tok := r.String("challenge_token")
			must(t, "/otp", 204, "")(c.SendOTP(tok))
			r = must(t, "/otp/check", 200, "")(c.CheckOTP(tok, codes.last(t, "step_up").Code))
			must(t, "/refresh", 200, "")(c.Refresh(r.String("challenge_token")))
			if acr := sessionclient.Claims(c.AccessToken)["acr"]; acr == "phr" || acr == "phrh" {
				t.Fatalf("an SMS code earned %v", acr)
			}

			// Passkey login on a new device, then finalize with its key and
			// the previous session's refresh token (the mobile SDKs' re-login).
			d := sessionclient.New(base)
			d.HTTP = c.HTTP
			r = must(t, "/login/passkey/begin", 200, "")(d.BeginPasskeyLogin())
			if strings.Contains(string(r.RawJSON("public_key")), "allowCredentials") {
				t.Fatalf("login options name credentials: %s", r.RawJSON("public_key"))
			}
			assertion, err := a.Get(r.RawJSON("public_key"), ios, softauthn.Ceremony{Origin: passkeyPage})
			if err != nil {
				t.Fatal(err)
			}
			r = must(t, "/login/passkey/finish", 200, "")(d.FinishPasskeyLogin(r.String("login_token"), assertion))
			r = must(t, "/login/finalize", 200, "")(d.Finalize(r.String("challenge_token"), ""))
			if r.Header.Get("X-Refresh-Token") == "" || r.Header.Get("X-Refresh-Token-Expires-At") == "" || r.String("access_token") == "" {
				t.Fatalf("finalize: %v %s", r.Header, r.Body)
			}
			claims := sessionclient.Claims(d.AccessToken)
			if claims["sub"] != sessionclient.Claims(c.AccessToken)["sub"] || claims["acr"] != "phrh" || fmt.Sprint(claims["amr"]) != "[hwk pin]" {
				t.Fatalf("passkey login's token: %v", claims)
			}
			// The new session is DPoP-bound: another key cannot refresh it.
			thief := sessionclient.New(base)
			thief.HTTP, thief.RefreshToken = c.HTTP, d.RefreshToken
			must(t, "/refresh with another key", 400, "dpop_key_mismatch")(thief.Refresh(""))
			must(t, "/refresh", 200, "")(d.Refresh(""))

			// Rename (Android: with a DPoP proof) and delete (iOS: Bearer only).
			must(t, "PATCH /me/passkeys/{id}", 204, "")(d.RenamePasskey(sessionclient.Android, ios.IDText(), "old phone"))
			must(t, "DELETE /me/passkeys/{id}", 204, "")(d.DeletePasskey(sessionclient.IOS, android.IDText()))
			r = must(t, "/me/passkeys", 200, "")(d.ListPasskeys(sessionclient.IOS))
			if list, _ := r.JSON["credentials"].([]any); len(list) != 1 || list[0].(map[string]any)["nickname"] != "old phone" {
				t.Fatalf("after rename and delete: %s", r.Body)
			}
		})
	}
}

// TestPasskeyManagementCallThroughCaddy: Prelude's PUT .../config/passkey
// turns passkeys on in a running gateway without a restart (enrolment
// then names the posted relying party), GET reads it back, and refused
// bodies change nothing.
func TestPasskeyManagementCallThroughCaddy(t *testing.T) {
	codes := newOTPReceiver(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://gateway.test
		external_url %[1]s
		management_key {env.STEPUP_TEST_MANAGEMENT_KEY}
		login otp phone_number
		otp {
			sender webhook %[2]s/send
		}
	}
}
%[1]s {
	stepup_session
	respond 404
}
`, base, codes.srv.URL), Env: []string{"STEPUP_TEST_MANAGEMENT_KEY=mgmt-key-for-tests"},
		WaitFor: []string{base + "/.well-known/jwks.json"}})
	const key, path = "mgmt-key-for-tests", "/v2/session/apps/app_demo/config/passkey"
	if status, out := managementCall(t, inst, "GET", path, key, ""); status != 404 {
		t.Fatalf("GET before any passkey config: %d %s", status, out)
	}
	c := sessionclient.New(base)
	must(t, "login/otp", 204, "")(c.StartLogin("phone_number", "+15555550302"))
	must(t, "login/otp/check", 200, "")(c.CheckLogin(codes.lastCode(t, "+15555550302")))
	must(t, "/me/passkeys before", 403, "passkey_not_configured")(c.ListPasskeys(sessionclient.IOS))

	before := configOf(t, inst)
	for name, body := range map[string]string{
		"a brace":          `{"rp_id":"localhost","rp_name":"{env.HOME}","allowed_origins":["https://localhost:8443"]}`,
		"another site":     `{"rp_id":"localhost","rp_name":"Demo","allowed_origins":["https://evil.example"]}`,
		"a member twice":   `{"rp_id":"localhost","rp_id":"example.com","rp_name":"Demo","allowed_origins":["https://localhost:8443"]}`,
		"no rp_name":       `{"rp_id":"localhost","allowed_origins":["https://localhost:8443"]}`,
		"granted scopes":   `{"rp_id":"localhost","rp_name":"Demo","allowed_origins":["https://localhost:8443"],"granted_scopes":["admin"]}`,
		"a member unknown": `{"rp_id":"localhost","rp_name":"Demo","allowed_origins":["https://localhost:8443"],"acr":"phr"}`,
	} {
		if status, out := managementCall(t, inst, "PUT", path, key, body); status != 400 {
			t.Errorf("%s: %d %s", name, status, out)
		}
	}
	if status, _ := managementCall(t, inst, "POST", path, key, `{}`); status != 405 {
		t.Errorf("POST config/passkey: %d, want 405", status)
	}
	if after := configOf(t, inst); after != before {
		t.Fatalf("a refused call changed the config:\n%s\n%s", before, after)
	}

	body := `{"rp_id":"localhost","rp_name":"Stepup demo","allowed_origins":["https://localhost:8443"],` +
		`"user_verification":"required","attestation_preference":"none","login_enabled":true}`
	status, out := managementCall(t, inst, "PUT", path, key, body)
	if status != 200 || !strings.Contains(out, `"rp_id":"localhost"`) || !strings.Contains(out, `"updated_at"`) {
		t.Fatalf("PUT config/passkey: %d %s", status, out)
	}
	if status, out := managementCall(t, inst, "GET", path, key, ""); status != 200 || !strings.Contains(out, `"login_enabled":true`) {
		t.Fatalf("GET config/passkey: %d %s", status, out)
	}
	if cfg := configOf(t, inst); !strings.Contains(cfg, `"passkey":{`) || !strings.Contains(cfg, `"rp_name":"Stepup demo"`) {
		t.Fatalf("the change is not in the config: %s", cfg)
	}
	// The running gateway now enrols for that relying party, after the
	// built-in step-up to prld:passkey:write.
	must(t, "/me/passkeys", 200, "")(c.ListPasskeys(sessionclient.IOS))
	r := must(t, "stepup/request", 200, "")(c.RequestStepUp("prld:passkey:write", nil))
	tok := r.String("challenge_token")
	must(t, "/otp", 204, "")(c.SendOTP(tok))
	r = must(t, "/otp/check", 200, "")(c.CheckOTP(tok, codes.lastCode(t, "+15555550302")))
	must(t, "/refresh", 200, "")(c.Refresh(r.String("challenge_token")))
	r = must(t, "register/begin", 200, "")(c.BeginPasskeyRegistration(sessionclient.IOS, "ada", "", ""))
	var opts struct {
		RP struct{ ID, Name string } `json:"rp"`
	}
	if err := json.Unmarshal(r.RawJSON("public_key"), &opts); err != nil || opts.RP.ID != "localhost" || opts.RP.Name != "Stepup demo" {
		t.Fatalf("creation options after the call: %s (%v)", r.RawJSON("public_key"), err)
	}
	must(t, "/login/passkey/begin", 200, "")(c.BeginPasskeyLogin())
}
