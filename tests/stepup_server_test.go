package tests

import (
	"fmt"
	"net/http"
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

// sameBrowserAt is c's browser talking to another gateway of the same
// deployment (as after a load balancer moved it): the same DPoP key and
// tokens, its own nonce, proofs naming that gateway (each gateway's
// external_url is its own base URL).
func sameBrowserAt(c *sessionclient.Client, base string) *sessionclient.Client {
	return &sessionclient.Client{Base: base, HTTP: c.HTTP, Key: c.Key, RefreshToken: c.RefreshToken, AccessToken: c.AccessToken}
}

// inParallel makes n calls at once and returns every answer by index; the
// test fails if any call could not be made. call(i) must not touch t.
func inParallel(t *testing.T, n int, call func(i int) (*sessionclient.Response, error)) []*sessionclient.Response {
	t.Helper()
	answers := make([]*sessionclient.Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = call(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return answers
}

// twoGateways starts two caddy instances sharing one redis-server and one
// signing key, each its own external URL, both the same issuer, and
// returns their base URLs.
func twoGateways(t *testing.T, codes *otpReceiver, api *upstream) (string, string) {
	t.Helper()
	bases, _ := twoGatewayInstances(t, codes, api)
	return bases[0], bases[1]
}

// twoGatewayInstances is twoGateways with the caddy instances (for their
// admin endpoints).
func twoGatewayInstances(t *testing.T, codes *otpReceiver, api *upstream) ([]string, []*testcaddy.Instance) {
	t.Helper()
	redis := redistest.Start(t)
	keyFile := sharedSigningKey(t)
	var bases []string
	var instances []*testcaddy.Instance
	for i := 0; i < 2; i++ {
		port := testcaddy.FreePort(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		inst := testcaddy.Start(t, testcaddy.Config{
			Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://gateway.test
		external_url %[1]s
		signing_key %[2]s
		store redis redis://%[3]s/0
		login otp phone_number
		otp {
			sender webhook %[4]s/send
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
		stepup transfer:write
		reverse_proxy %[5]s
	}
	respond 404
}
`, base, keyFile, redis.Addr, codes.srv.URL, api.srv.URL),
			WaitFor: []string{base + "/.well-known/jwks.json"},
		})
		bases = append(bases, base)
		instances = append(instances, inst)
	}
	return bases, instances
}

// sharedSigningKey writes a fresh signing key for gateways that must act
// as one, and returns its path.
func sharedSigningKey(t *testing.T) string {
	t.Helper()
	signer, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := signer.PEM()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "signing_key.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

// TestStepUpAcrossTwoGateways drives the session API the way the SDK does,
// over HTTP, against two gateways sharing one Redis: a login on one, the
// step-up code checked in parallel on both (exactly one wins), the grant
// redeemed on the other, then the single-use grant spent by 50 parallel
// requests split across both (exactly one reaches the upstream).
func TestStepUpAcrossTwoGateways(t *testing.T) {
	codes := newOTPReceiver(t)
	api := newUpstream(t)
	baseA, baseB := twoGateways(t, codes, api)
	a := sessionclient.New(baseA)
	a.HTTP = newClient(t)
	const phone = "+33612345678"

	// Login on A.
	start, err := a.StartLogin("phone_number", phone)
	if err != nil {
		t.Fatal(err)
	}
	if start.Status != http.StatusNoContent {
		t.Fatalf("login/otp: %d %s", start.Status, start.Body)
	}
	if a.Verification == "" {
		t.Fatal("login/otp set no login cookie")
	}
	login := codes.last(t, "login")
	if login.To != phone || login.Channel != "sms" {
		t.Fatalf("login code sent as %+v", login)
	}
	checked, err := a.CheckLogin(login.Code)
	if err != nil {
		t.Fatal(err)
	}
	if checked.Status != http.StatusOK || checked.String("access_token") == "" {
		t.Fatalf("login/otp/check: %d %s", checked.Status, checked.Body)
	}
	if a.RefreshToken == "" {
		t.Fatal("no refresh cookie")
	}
	b := sameBrowserAt(a, baseB)
	transfer := sessionclient.Request{Method: http.MethodPost, Path: "/api/transfers", Bearer: true}

	// Without the scope the route asks for a step-up; nothing reaches the API.
	denied, err := b.Do(transfer)
	if err != nil {
		t.Fatal(err)
	}
	if denied.Status != http.StatusUnauthorized || !strings.Contains(denied.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Fatalf("transfer without the scope: %d %q", denied.Status, denied.Header.Get("WWW-Authenticate"))
	}

	// Step-up on A: the code goes to the user's phone.
	req, err := a.RequestStepUp("transfer:write", map[string]string{"amount": "500"})
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != http.StatusOK || req.String("status") != "review" || req.String("challenge_token") == "" {
		t.Fatalf("stepup/request: %d %s", req.Status, req.Body)
	}
	t1 := req.String("challenge_token")
	c1 := sessionclient.Claims(t1)
	if c1["current_step"] != "verify_sms" || c1["scope_requested"] != "transfer:write" {
		t.Fatalf("challenge token claims %v", c1)
	}
	sent, err := a.SendOTP(t1)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Status != http.StatusNoContent {
		t.Fatalf("otp: %d %s", sent.Status, sent.Body)
	}
	stepCode := codes.last(t, "step_up")
	if stepCode.To != phone || stepCode.ChallengeID != c1["challenge_id"] {
		t.Fatalf("step-up code sent as %+v", stepCode)
	}

	// 20 parallel right codes, half on each gateway: exactly one advances
	// the challenge. Challenge-bound proofs: jti = the token's jti, no nonce.
	// Each call has its own client so that none writes another's state.
	const checks = 20
	bases := []string{baseA, baseB}
	answers := inParallel(t, checks, func(i int) (*sessionclient.Response, error) {
		return sameBrowserAt(a, bases[i%2]).CheckOTP(t1, stepCode.Code)
	})
	var t2 string
	wins := 0
	for i, ans := range answers {
		switch {
		case ans.Status == http.StatusOK:
			wins++
			t2 = ans.String("challenge_token")
		case ans.Status >= 500:
			t.Fatalf("otp/check %d answered %d %s", i, ans.Status, ans.Body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d parallel right codes were accepted, want exactly 1", wins, checks)
	}
	if sessionclient.Claims(t2)["current_step"] != "completed" {
		t.Fatalf("token after the code: %v", sessionclient.Claims(t2))
	}

	// Redeem on B.
	red, err := b.Refresh(t2)
	if err != nil {
		t.Fatal(err)
	}
	if red.Status != http.StatusOK || red.String("access_token") == "" {
		t.Fatalf("refresh with step_up_token: %d %s", red.Status, red.Body)
	}
	stepped := red.String("access_token")
	ac := sessionclient.Claims(stepped)
	grants, _ := ac["grt"].(map[string]any)
	if !strings.Contains(" "+fmt.Sprint(ac["scope"])+" ", " transfer:write ") || grants["transfer:write"] == nil {
		t.Fatalf("stepped-up access token claims %v", ac)
	}
	a.RefreshToken = b.RefreshToken
	again, err := a.Refresh(t2)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status == http.StatusOK || again.Code() != "token_reused" {
		t.Fatalf("second redemption: %d %s", again.Status, again.Body)
	}

	// 50 parallel transfers with the single-use token, split across both
	// gateways: exactly one reaches the API.
	const transfers = 50
	results := inParallel(t, transfers, func(i int) (*sessionclient.Response, error) {
		c := sameBrowserAt(a, bases[i%2])
		c.AccessToken = stepped
		return c.Do(transfer)
	})
	ok, refused := 0, 0
	for _, r := range results {
		switch {
		case r.Status == http.StatusOK:
			ok++
		case r.Status == http.StatusUnauthorized && strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_user_authentication"):
			refused++
		default:
			t.Errorf("transfer answered %d %q %s", r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
		}
	}
	if hits := api.hits.Load(); hits != 1 || ok != 1 || refused != transfers-1 {
		t.Fatalf("%d upstream hits, %d passed, %d refused with insufficient_user_authentication; want 1, 1, %d", hits, ok, refused, transfers-1)
	}
}
