package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// adminCall sends a request to an instance's admin endpoint.
func adminCall(t *testing.T, inst *testcaddy.Instance, method, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", inst.AdminPort, path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

// TestAdminAPIAcrossInstances: an operator ends a user's sessions on one
// instance and the other instance refuses that user's next refresh;
// grants revoked on one are gone on the other; a challenge's state shows
// without its code.
func TestAdminAPIAcrossInstances(t *testing.T) {
	codes, api := newOTPReceiver(t), newUpstream(t)
	bases, insts := twoGatewayInstances(t, codes, api)
	login := func(phone string) *sessionclient.Client {
		c := sessionclient.New(bases[0])
		if r, err := c.StartLogin("phone_number", phone); err != nil || r.Status != 204 {
			t.Fatalf("login: %v %v", r, err)
		}
		if r, err := c.CheckLogin(codes.lastCode(t, phone)); err != nil || r.Status != 200 {
			t.Fatalf("check: %v %v", r, err)
		}
		return c
	}
	alice, alice2, bob := login("+15555550201"), login("+15555550201"), login("+15555550202")
	user := fmt.Sprint(sessionclient.Claims(alice.AccessToken)["sub"])

	status, list := adminCall(t, insts[1], "GET", "/stepup/users/"+user+"/sessions")
	if sessions, _ := list["sessions"].([]any); status != 200 || len(sessions) != 2 {
		t.Fatalf("sessions on B: %d %v", status, list)
	}
	// One session, then all: on B; A refuses their refreshes.
	sid := fmt.Sprint(sessionclient.Claims(alice2.AccessToken)["sid"])
	if status, out := adminCall(t, insts[1], "DELETE", "/stepup/users/"+user+"/sessions/"+sid); status != 200 || out["revoked"] != 1.0 {
		t.Fatalf("revoke one: %d %v", status, out)
	}
	if r, _ := alice2.Refresh(""); r.Status != 401 {
		t.Errorf("the revoked session refreshed on A: %v", r)
	}
	if r, _ := alice.Refresh(""); r.Status != 200 {
		t.Fatalf("the other session: %v", r)
	}
	if status, out := adminCall(t, insts[1], "DELETE", "/stepup/users/"+user+"/sessions"); status != 200 || out["revoked"] != 1.0 {
		t.Fatalf("revoke all: %d %v", status, out)
	}
	if r, _ := alice.Refresh(""); r.Status != 401 {
		t.Errorf("a revoked user refreshed on A: %v", r)
	}
	if r, _ := bob.Refresh(""); r.Status != 200 {
		t.Errorf("another user lost his session: %v", r)
	}

	// Grants: bob steps up on A; B revokes them; A refuses the grant.
	req, err := bob.RequestStepUp("transfer:write", nil)
	if err != nil || req.Status != 200 {
		t.Fatalf("request: %v %v", req, err)
	}
	challenge := req.String("challenge_token")
	chID := fmt.Sprint(sessionclient.Claims(challenge)["challenge_id"])
	if r, err := bob.SendOTP(challenge); err != nil || r.Status != 204 {
		t.Fatalf("otp: %v %v", r, err)
	}
	status, view := adminCall(t, insts[1], "GET", "/stepup/challenges/"+chID)
	raw, _ := json.Marshal(view)
	if status != 200 || view["current_step"] != "verify_sms" || view["scope"] != "transfer:write" ||
		strings.Contains(string(raw), codes.last(t, "step_up").Code) || strings.Contains(string(raw), "digest") {
		t.Fatalf("challenge view: %d %s", status, raw)
	}
	checked, _ := bob.CheckOTP(challenge, codes.last(t, "step_up").Code)
	red, err := bob.Refresh(checked.String("challenge_token"))
	if err != nil || red.Status != 200 {
		t.Fatalf("redeem: %v %v", red, err)
	}
	bobUser := fmt.Sprint(sessionclient.Claims(bob.AccessToken)["sub"])
	if status, out := adminCall(t, insts[1], "DELETE", "/stepup/users/"+bobUser+"/grants"); status != 200 || out["revoked"] != 1.0 {
		t.Fatalf("revoke grants: %d %v", status, out)
	}
	if got := fetch(t, newClient(t), "POST", bases[0]+"/api/transfers", bearer(red.String("access_token"))); got.status != 401 || api.hits.Load() != 0 {
		t.Errorf("a revoked grant on A: %d (%d upstream hits)", got.status, api.hits.Load())
	}

	// Refusals in the SDK's shape.
	for path, want := range map[string]int{
		"/stepup/users/usr_x/sessions":                      404,
		"/stepup/challenges/chl_" + strings.Repeat("A", 22): 404,
		"/stepup/nothing":                                   404,
	} {
		if status, out := adminCall(t, insts[0], "GET", path); status != want || out["code"] == nil || out["type"] == nil {
			t.Errorf("%s: %d %v", path, status, out)
		}
	}
	if status, _ := adminCall(t, insts[0], "POST", "/stepup/users/"+bobUser+"/sessions"); status != 405 {
		t.Errorf("POST sessions: %d", status)
	}
}
