package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// What a provider's word is worth: the addresses an OpenID provider says
// are verified are contact data until the gateway proves them with a code,
// unless the provider is trusted with them (trust_verified_identifiers).

// codeLogin logs in by a code sent to an identifier.
func (env *oauthEnv) codeLogin(t *testing.T, typ, value string) *sessionclient.Client {
	t.Helper()
	c := sessionclient.New(env.base)
	if r, err := c.StartLogin(typ, value); err != nil || r.Status != 204 {
		t.Fatalf("code login %s: %v %v", value, r, err)
	}
	if r, err := c.CheckLogin(env.codes.lastCode(t, value)); err != nil || r.Status != 200 {
		t.Fatalf("code check %s: %v %v", value, r, err)
	}
	return c
}

func subOf(c *sessionclient.Client) string {
	sub, _ := sessionclient.Claims(c.AccessToken)["sub"].(string)
	return sub
}

// sessionCount is how many sessions GET /me/list shows c.
func sessionCount(t *testing.T, c *sessionclient.Client) int {
	t.Helper()
	r, err := c.Do(sessionclient.Request{Method: "GET", Path: "/v1/session/me/list", Bearer: true})
	if err != nil || r.Status != 200 {
		t.Fatalf("me/list: %v %v", r, err)
	}
	var list struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil {
		t.Fatal(err)
	}
	return list.Total
}

// TestOAuthProviderCannotPreHijack: a provider's ID token with
// {"sub":"attacker-1","email":"victim@example.com","email_verified":true}
// (and the victim's phone number, phone_number_verified true), for
// addresses no user holds yet. The real owner then logs in by code (email
// and phone), signs up with a password and logs in with it: each time into
// a user of their own. The attacker, back through the provider, lists only
// their own sessions; their step-up sends no code to the victim's phone
// (400 invalid_identifier, nothing sent), so a bound transfer never
// reaches the API; the victim's own step-up code goes to the victim. On
// memory and Redis, with panva's oidc-provider vouching.
func TestOAuthProviderCannotPreHijack(t *testing.T) {
	requireOIDCHarness(t)
	for _, st := range sdkStores[:2] {
		t.Run(st.name, func(t *testing.T) {
			env := startOAuthGateway(t, st.store(t), "")
			const victimEmail, victimPhone, victimPwdEmail = "victim@example.com", "+15555550199", "victim.pwd@example.com"
			vouching := map[string]string{"login": "attacker-1", "email": victimEmail, "phone": victimPhone}
			attacker := env.oauthLogin(t, vouching)
			attacker2 := env.oauthLogin(t, map[string]string{"login": "attacker-2", "email": victimPwdEmail})
			attackerSub := subOf(attacker)

			byEmail := env.codeLogin(t, "email_address", victimEmail)
			byPhone := env.codeLogin(t, "phone_number", victimPhone)
			signUp := sessionclient.New(env.base)
			r, err := signUp.SignUp(victimPwdEmail, oauthPass)
			if err != nil || r.Status != 200 {
				t.Fatalf("sign-up: %v %v", r, err)
			}
			if r, err := signUp.Finalize(r.String("challenge_token"), ""); err != nil || r.Status != 200 || r.String("status") != "otp_required" {
				t.Fatalf("sign-up finalize: %v %v", r, err)
			}
			if r, err := signUp.CheckLogin(env.codes.lastCode(t, victimPwdEmail)); err != nil || r.Status != 200 {
				t.Fatalf("sign-up code: %v %v", r, err)
			}
			byPassword := sessionclient.New(env.base)
			r, err = byPassword.PasswordLogin(victimPwdEmail, oauthPass)
			if err != nil || r.Status != 200 {
				t.Fatalf("password login: %v %v", r, err)
			}
			if r, err := byPassword.Finalize(r.String("challenge_token"), ""); err != nil || r.Status != 200 {
				t.Fatalf("password finalize: %v %v", r, err)
			}
			for name, c := range map[string]*sessionclient.Client{"code login by email": byEmail, "code login by phone": byPhone,
				"sign-up": signUp, "password login": byPassword} {
				if sub := subOf(c); sub == "" || sub == attackerSub || sub == subOf(attacker2) {
					t.Errorf("%s landed in %q (the attackers are %s and %s)", name, sub, attackerSub, subOf(attacker2))
				}
			}
			if subOf(signUp) != subOf(byPassword) {
				t.Error("the password login did not reach the account its sign-up made")
			}

			// The attacker, back through the provider: their own user,
			// their own two sessions, none of the victim's.
			again := env.oauthLogin(t, vouching)
			if subOf(again) != attackerSub {
				t.Fatal("the attacker's subject became another user")
			}
			if n := sessionCount(t, again); n != 2 {
				t.Errorf("the attacker sees %d sessions, want their own 2", n)
			}
			// No step-up code to the victim's phone; no grant; the bound
			// transfer is refused before the API.
			sent := env.codes.count()
			req, err := again.RequestStepUp("transfer:write", nil)
			if err != nil || req.Status != 200 || req.String("challenge_token") == "" {
				t.Fatalf("stepup/request: %v %v", req, err)
			}
			resp, err := again.SendOTP(req.String("challenge_token"))
			if err != nil || resp.Status != http.StatusBadRequest || resp.Code() != "invalid_identifier" {
				t.Errorf("the attacker's SMS step: %v %v", resp, err)
			}
			if env.codes.count() != sent {
				t.Errorf("%d codes went out", env.codes.count()-sent)
			}
			if got := fetch(t, newClient(t), "POST", env.base+"/api/transfers", bearer(again.AccessToken)); got.status != 401 || got.code != "step_up_required" {
				t.Errorf("the attacker's transfer: %d %s", got.status, got.body)
			}
			if n := env.api.hits.Load(); n != 0 {
				t.Errorf("the API was reached %d times", n)
			}
			if strings.Contains(env.caddy.Log(), victimPhone) || strings.Contains(env.caddy.Log(), victimEmail) {
				t.Error("the victim's addresses are in the log")
			}

			// The victim's own step-up code goes to the victim's phone.
			tok := stepUpBySMS(t, byPhone, env.codes, "transfer:write", nil).String("access_token")
			if msg := env.codes.last(t, "step_up"); msg.To != victimPhone {
				t.Errorf("the victim's step-up code went to %s", msg.To)
			}
			if got := fetch(t, newClient(t), "POST", env.base+"/api/transfers", bearer(tok)); got.status != 200 {
				t.Errorf("the victim's transfer: %d %s", got.status, got.body)
			}
		})
	}
}

// TestOAuthTrustedProviderKeepsOwnedAddresses: with
// trust_verified_identifiers, a provider vouching for an address another
// user proved by code never takes it: the owner keeps logging in to their
// own user and receives their own codes; the provider's user gets no code
// there.
func TestOAuthTrustedProviderKeepsOwnedAddresses(t *testing.T) {
	requireOIDCHarness(t)
	env := startOAuthGateway(t, "store memory", "trust_verified_identifiers")
	const email, phone = "owner@example.com", "+15555550188"
	owner := env.codeLogin(t, "phone_number", phone)
	ownerByEmail := env.codeLogin(t, "email_address", email)
	mallory := env.oauthLogin(t, map[string]string{"login": "mallory", "email": email, "phone": phone})
	if subOf(mallory) == subOf(owner) || subOf(mallory) == subOf(ownerByEmail) {
		t.Fatal("a trusted provider's user took over an address someone held")
	}
	if again := env.codeLogin(t, "phone_number", phone); subOf(again) != subOf(owner) {
		t.Error("the owner's code login went elsewhere")
	}
	sent := env.codes.count()
	req, err := mallory.RequestStepUp("transfer:write", nil)
	if err != nil || req.Status != 200 {
		t.Fatalf("stepup/request: %v %v", req, err)
	}
	if resp, err := mallory.SendOTP(req.String("challenge_token")); err != nil || resp.Status != 400 || resp.Code() != "invalid_identifier" {
		t.Errorf("mallory's SMS step: %v %v", resp, err)
	}
	if env.codes.count() != sent || env.api.hits.Load() != 0 {
		t.Errorf("%d codes sent, %d upstream calls", env.codes.count()-sent, env.api.hits.Load())
	}
}

// TestOAuthProviderACR: an ID token's acr equal to one the gateway awards
// itself (here login_acr urn:stepup:otp and the password login's
// urn:stepup:pwd, which oidc-provider's login page reports as asked) is not
// adopted: the session's tokens say urn:stepup:oauth, and a route that
// demands urn:stepup:otp refuses them before the API. `acr_map` adopts a
// provider's acr explicitly: urn:stepup:loa:2 becomes urn:stepup:otp and
// passes. A provider acr of its own (urn:stepup:loa:1) is kept as it is.
func TestOAuthProviderACR(t *testing.T) {
	requireOIDCHarness(t)
	env := startOAuthGateway(t, "store memory", "acr_map urn:stepup:loa:2 urn:stepup:otp")
	for _, tc := range []struct {
		providerACR, tokenACR string
		passes                bool
	}{
		{"urn:stepup:otp", "urn:stepup:oauth", false},
		{"urn:stepup:pwd", "urn:stepup:oauth", false},
		{"urn:stepup:loa:2", "urn:stepup:otp", true},
		{"urn:stepup:loa:1", "urn:stepup:loa:1", false},
	} {
		c := env.oauthLogin(t, map[string]string{"login": "ivy", "acr": tc.providerACR})
		if got := sessionclient.Claims(c.AccessToken)["acr"]; got != tc.tokenACR {
			t.Errorf("provider acr %s: the token says %v, want %s", tc.providerACR, got, tc.tokenACR)
		}
		before := env.api.hits.Load()
		got := fetch(t, newClient(t), "GET", env.base+"/acr", bearer(c.AccessToken))
		switch {
		case tc.passes && (got.status != 200 || env.api.hits.Load() != before+1):
			t.Errorf("provider acr %s: %d %s", tc.providerACR, got.status, got.body)
		case !tc.passes && (got.status != 401 || !strings.Contains(got.wwwAuth, "insufficient_user_authentication") ||
			!strings.Contains(got.wwwAuth, `acr_values="urn:stepup:otp"`) || env.api.hits.Load() != before):
			t.Errorf("provider acr %s: %d %q %s (upstream %d)", tc.providerACR, got.status, got.wwwAuth, got.body, env.api.hits.Load()-before)
		}
	}
}
