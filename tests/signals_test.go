package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

const (
	caep = "https://schemas.openid.net/secevent/caep/event-type/"
	risc = "https://schemas.openid.net/secevent/risc/event-type/"
	ssf  = "https://schemas.openid.net/secevent/ssf/event-type/"
	// gatewayIssuer is the test gateways' issuer; ssfAudience what the
	// transmitter's SETs call them.
	gatewayIssuer = "http://gateway.test"
	ssfAudience   = "http://gateway.test/ssf"
	ssfPushToken  = "Bearer push-token-0123456789"
)

// signalGateways are two gateways sharing one Redis that trust the
// transmitter as an identity provider and receive its SETs at /ssf/events.
func signalGateways(t *testing.T, tr *ssfTransmitter, codes *otpReceiver, api *upstream) []string {
	t.Helper()
	redis := redistest.Start(t)
	keyFile := sharedSigningKey(t)
	var bases []string
	for i := 0; i < 2; i++ {
		base := fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
		testcaddy.Start(t, testcaddy.Config{
			Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[7]s
		external_url %[1]s
		signing_key %[2]s
		store redis redis://%[3]s/0
		login otp phone_number
		otp {
			sender webhook %[4]s/send
		}
		trust %[6]s {
			jwks_url %[6]sjwks.json
			audience api
			algorithms RS256
		}
		scope profile:write {
			direct {
				step verify_sms 5m
				granted_for 1h
				grant_mode session-bound
			}
		}
	}
}

%[1]s {
	stepup_signals /ssf/events {
		transmitter %[6]s {
			jwks_url %[6]sjwks.json
			audience %[8]s
			algorithms RS256
			authorization {env.SSF_PUSH_TOKEN}
			stream_id stream-1
			subject_issuers %[7]s
		}
	}
	stepup_session
	route /api/profile* {
		stepup profile:write
		reverse_proxy %[5]s
	}
	route /api/read* {
		stepup
		reverse_proxy %[5]s
	}
	respond 404
}
`, base, keyFile, redis.Addr, codes.srv.URL, api.srv.URL, tr.issuer, gatewayIssuer, ssfAudience),
			Env:     []string{"SSF_PUSH_TOKEN=" + ssfPushToken},
			WaitFor: []string{base + "/.well-known/jwks.json"},
		})
		bases = append(bases, base)
	}
	return bases
}

// TestSharedSignalsThroughTheBuiltCaddy: a transmitter (ours, written from
// the specifications) pushes each CAEP and RISC event the gateway acts on
// to one of two gateways sharing Redis, and the other one shows its
// effect: a trusted issuer's token refused, gateway sessions ended, grants
// gone. Forged, replayed, wrongly addressed and expired SETs change
// nothing.
func TestSharedSignalsThroughTheBuiltCaddy(t *testing.T) {
	tr := newSSFTransmitter(t)
	tr.authorization = ssfPushToken
	codes, api := newOTPReceiver(t), newUpstream(t)
	bases := signalGateways(t, tr, codes, api)
	endpoint := func(i int) string { return bases[i] + "/ssf/events" }
	client := newClient(t)
	read := func(i int, token string) int {
		return fetch(t, client, "GET", bases[i]+"/api/read", bearer(token)).status
	}
	login := func(phone string) *sessionclient.Client {
		t.Helper()
		c := sessionclient.New(bases[0])
		if r, err := c.StartLogin("phone_number", phone); err != nil || r.Status != 204 {
			t.Fatalf("login: %v %v", r, err)
		}
		if r, err := c.CheckLogin(codes.lastCode(t, phone)); err != nil || r.Status != 200 {
			t.Fatalf("check: %v %v", r, err)
		}
		return c
	}
	claim := func(c *sessionclient.Client, name string) string {
		return fmt.Sprint(sessionclient.Claims(c.AccessToken)[name])
	}
	// refreshes reports whether a session still refreshes, on gateway B.
	refreshes := func(c *sessionclient.Client) bool {
		t.Helper()
		c.Base = bases[1]
		defer func() { c.Base = bases[0] }()
		r, err := c.Refresh("")
		if err != nil {
			t.Fatal(err)
		}
		return r.Status == 200
	}
	// eventually waits (at most 2 s) for a condition another instance
	// brings about.
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 2s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	issSub := func(iss, sub string) map[string]any {
		return map[string]any{"format": "iss_sub", "iss": iss, "sub": sub}
	}
	phone := func(p string) map[string]any { return map[string]any{"format": "phone_number", "phone_number": p} }
	stream := map[string]any{"format": "opaque", "id": "stream-1"}
	accepted := func(i int, set string) {
		t.Helper()
		if p := tr.push(t, endpoint(i), set); p.status != http.StatusAccepted {
			t.Fatalf("push to %d: %d %s", i, p.status, p.body)
		}
	}

	aliceIdP := tr.accessToken("api", "alice-at-idp", "idp-session-1")
	carolIdP := tr.accessToken("api", "carol-at-idp", "idp-session-2")
	dave := login("+15555550301")
	for i := range bases {
		if read(i, aliceIdP) != 200 || read(i, carolIdP) != 200 || read(i, dave.AccessToken) != 200 {
			t.Fatalf("the tokens do not pass gateway %d to begin with", i)
		}
	}

	// SETs that must change nothing, each refused with RFC 8935's code.
	revokeAlice := func() map[string]any {
		return tr.set(ssfAudience, caep+"session-revoked", map[string]any{}, issSub(tr.issuer, "alice-at-idp"))
	}
	daveDisabled := tr.set(ssfAudience, risc+"account-disabled", map[string]any{"reason": "hijacking"}, phone("+15555550301"))
	forger := newSSFTransmitter(t)
	wrongAud := revokeAlice()
	wrongAud["aud"] = "http://other-gateway.test/ssf"
	expired := revokeAlice()
	expired["iat"] = time.Now().Add(-2 * time.Hour).Unix()
	future := revokeAlice()
	future["iat"] = time.Now().Add(5 * time.Minute).Unix()
	withSub := revokeAlice()
	withSub["sub"] = "alice-at-idp"
	twoEvents := revokeAlice()
	twoEvents["events"] = map[string]any{caep + "session-revoked": map[string]any{}, risc + "account-purged": map[string]any{}}
	otherIssuer := revokeAlice()
	otherIssuer["iss"] = forger.issuer
	noneHeader := b64.EncodeToString([]byte(`{"alg":"none","typ":"secevent+jwt"}`)) + "." + strings.Split(tr.sign(revokeAlice()), ".")[1] + "."
	jwtTyp := signWith(tr.key, map[string]any{"alg": "RS256", "kid": tr.kid, "typ": "JWT"}, revokeAlice())
	for name, tc := range map[string]struct {
		set, contentType, authorization, err string
	}{
		"forged (another key, the transmitter's kid)": {signWith(forger.key, map[string]any{"alg": "RS256", "kid": tr.kid, "typ": "secevent+jwt"}, revokeAlice()), "", "", "invalid_key"},
		"another transmitter's iss":                   {forger.sign(otherIssuer), "", "", "invalid_issuer"},
		"wrongly addressed":                           {tr.sign(wrongAud), "", "", "invalid_audience"},
		"expired":                                     {tr.sign(expired), "", "", "invalid_request"},
		"issued in the future":                        {tr.sign(future), "", "", "invalid_request"},
		"with sub":                                    {tr.sign(withSub), "", "", "invalid_request"},
		"two events":                                  {tr.sign(twoEvents), "", "", "invalid_request"},
		"alg none":                                    {noneHeader, "", "", "invalid_request"},
		"typ JWT":                                     {jwtTyp, "", "", "invalid_request"},
		"as application/jwt":                          {tr.sign(revokeAlice()), "application/jwt", "", "invalid_request"},
		"without the push token":                      {tr.sign(revokeAlice()), "", "-", "authentication_failed"},
		"with another push token":                     {tr.sign(revokeAlice()), "", "Bearer guess", "authentication_failed"},
		"oversized":                                   {tr.sign(revokeAlice()) + strings.Repeat("A", 70<<10), "", "", "invalid_request"},
	} {
		ct, auth := tc.contentType, tc.authorization
		if ct == "" {
			ct = "application/secevent+jwt"
		}
		switch auth {
		case "":
			auth = tr.authorization
		case "-":
			auth = ""
		}
		if p := tr.pushAs(t, endpoint(0), tc.set, ct, auth); p.status != 400 || p.err != tc.err {
			t.Errorf("%s: %d %q %s, want 400 %s", name, p.status, p.err, p.body, tc.err)
		}
	}
	if got := fetch(t, client, "GET", endpoint(0), nil).status; got != 405 {
		t.Errorf("GET on the endpoint: %d", got)
	}
	time.Sleep(1100 * time.Millisecond) // what a wrongly accepted SET would revoke, B would refuse by now
	if read(1, aliceIdP) != 200 || read(0, aliceIdP) != 200 || !refreshes(dave) {
		t.Fatal("a refused SET changed something")
	}

	// An unknown event, a verification event and a stream update are
	// accepted and change nothing; a verification state the gateway never
	// asked for is invalid_state.
	accepted(0, tr.sign(tr.set(ssfAudience, caep+"device-compliance-change", map[string]any{"current_status": "not-compliant"}, issSub(tr.issuer, "alice-at-idp"))))
	accepted(1, tr.sign(tr.set(ssfAudience, ssf+"verification", map[string]any{}, stream)))
	accepted(0, tr.sign(tr.set(ssfAudience, ssf+"stream-updated", map[string]any{"status": "enabled"}, stream)))
	if p := tr.push(t, endpoint(0), tr.sign(tr.set(ssfAudience, ssf+"verification", map[string]any{"state": "never-asked"}, stream))); p.status != 400 || p.err != "invalid_state" {
		t.Errorf("an unasked state: %d %s", p.status, p.body)
	}
	if read(1, aliceIdP) != 200 || !refreshes(dave) {
		t.Fatal("an event the gateway does not act on changed something")
	}

	// CAEP session-revoked for the trusted issuer's subject, pushed to A:
	// B refuses alice's token within a second; carol's passes.
	revoked := tr.sign(revokeAlice())
	accepted(0, revoked)
	eventually("B refuses the revoked subject's token", func() bool { return read(1, aliceIdP) == 401 })
	if read(0, aliceIdP) != 401 || read(1, carolIdP) != 200 {
		t.Fatal("the revocation reached the wrong tokens")
	}
	// A token of hers issued later passes: she logged in again at her
	// provider.
	time.Sleep(1100 * time.Millisecond)
	if got := read(1, tr.accessToken("api", "alice-at-idp", "idp-session-3")); got != 200 {
		t.Errorf("a token issued after the revocation: %d", got)
	}

	// RISC account-disabled by phone number, pushed to B: dave's gateway
	// sessions end and his token is refused on A.
	accepted(1, tr.sign(daveDisabled))
	eventually("A refuses dave's token", func() bool { return read(0, dave.AccessToken) == 401 })
	if refreshes(dave) {
		t.Fatal("dave's session outlived account-disabled")
	}
	// He logs in again; the same SET replayed (to either gateway) is
	// answered as before and changes nothing.
	time.Sleep(1100 * time.Millisecond)
	dave = login("+15555550301")
	for i := range bases {
		if p := tr.push(t, endpoint(i), tr.sign(daveDisabled)); p.status != 202 {
			t.Fatalf("replay to %d: %d %s", i, p.status, p.body)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	if read(1, dave.AccessToken) != 200 || !refreshes(dave) {
		t.Fatal("a replayed SET ended the new session")
	}

	// CAEP credential-change about a gateway user by the gateway's own
	// issuer and user ID: every session of erin ends, frank's live on.
	erin, erin2, frank := login("+15555550302"), login("+15555550302"), login("+15555550303")
	accepted(0, tr.sign(tr.set(ssfAudience, caep+"credential-change",
		map[string]any{"credential_type": "password", "change_type": "update"}, issSub(gatewayIssuer, claim(erin, "sub")))))
	if refreshes(erin) || refreshes(erin2) || !refreshes(frank) {
		t.Fatal("credential-change ended the wrong sessions")
	}

	// CAEP session-revoked naming one gateway session (complex subject):
	// that session ends and its token is refused; the user's other
	// session lives.
	grace, grace2 := login("+15555550304"), login("+15555550304")
	accepted(1, tr.sign(tr.set(ssfAudience, caep+"session-revoked", map[string]any{"initiating_entity": "policy"},
		map[string]any{"format": "complex", "user": issSub(gatewayIssuer, claim(grace, "sub")), "session": issSub(gatewayIssuer, claim(grace, "sid"))})))
	eventually("A refuses the revoked session's token", func() bool { return read(0, grace.AccessToken) == 401 })
	if refreshes(grace) || !refreshes(grace2) || read(0, grace2.AccessToken) != 200 {
		t.Fatal("session-revoked reached the wrong session")
	}

	// CAEP assurance-level-change to a lower level: heidi's session-bound
	// scope goes, her token carrying it is refused, and her next request
	// to the route steps up again.
	heidi := login("+15555550305")
	req, err := heidi.RequestStepUp("profile:write", nil)
	if err != nil || req.Status != 200 {
		t.Fatalf("step-up: %v %v", req, err)
	}
	challenge := req.String("challenge_token")
	if r, err := heidi.SendOTP(challenge); err != nil || r.Status != 204 {
		t.Fatalf("otp: %v %v", r, err)
	}
	checked, _ := heidi.CheckOTP(challenge, codes.last(t, "step_up").Code)
	if r, err := heidi.Refresh(checked.String("challenge_token")); err != nil || r.Status != 200 {
		t.Fatalf("redeem: %v %v", r, err)
	}
	stepped := heidi.AccessToken
	if got := fetch(t, client, "GET", bases[1]+"/api/profile", bearer(stepped)).status; got != 200 {
		t.Fatalf("the stepped-up token: %d", got)
	}
	accepted(0, tr.sign(tr.set(ssfAudience, caep+"assurance-level-change",
		map[string]any{"namespace": "NIST-AAL", "current_level": "nist-aal1", "previous_level": "nist-aal2", "change_direction": "decrease"},
		issSub(gatewayIssuer, claim(heidi, "sub")))))
	eventually("B refuses the stepped-up token", func() bool {
		return fetch(t, client, "GET", bases[1]+"/api/profile", bearer(stepped)).status == 401
	})
	time.Sleep(1100 * time.Millisecond)
	if !refreshes(heidi) {
		t.Fatal("assurance-level-change ended the session (it only drops step-ups)")
	}
	if got := fetch(t, client, "GET", bases[1]+"/api/profile", bearer(heidi.AccessToken)); got.status != 401 || got.code != "step_up_required" {
		t.Fatalf("after the refresh: %d %s, want a step-up challenge", got.status, got.code)
	}
	// A level that went up asks nothing.
	accepted(1, tr.sign(tr.set(ssfAudience, caep+"assurance-level-change",
		map[string]any{"namespace": "NIST-AAL", "current_level": "nist-aal2", "change_direction": "increase"},
		issSub(gatewayIssuer, claim(heidi, "sub")))))
	time.Sleep(1100 * time.Millisecond)
	if read(0, heidi.AccessToken) != 200 {
		t.Fatal("an increase refused a token")
	}

	// RISC sessions-revoked, account-purged and credential-compromise: each
	// ends its user's sessions and refuses their tokens, on the other
	// gateway.
	for i, event := range []string{"sessions-revoked", "account-purged", "credential-compromise"} {
		number := fmt.Sprintf("+1555555031%d", i)
		victim, bystander := login(number), login(fmt.Sprintf("+1555555032%d", i))
		payload := map[string]any{}
		if event == "credential-compromise" {
			payload["credential_type"] = "password"
		}
		accepted(i%2, tr.sign(tr.set(ssfAudience, risc+event, payload, phone(number))))
		eventually(event+": the other gateway refuses the token", func() bool { return read(1-i%2, victim.AccessToken) == 401 })
		if refreshes(victim) || !refreshes(bystander) || read(1-i%2, bystander.AccessToken) != 200 {
			t.Fatalf("%s reached the wrong sessions", event)
		}
	}
	if api.hits.Load() == 0 {
		t.Fatal("the upstream was never reached: the reads above proved nothing")
	}
}

// TestSharedSignalsByPoll: the gateway polls the transmitter (RFC 8936);
// an account-disabled SET ends the user's session and is acknowledged, a
// forged one is reported in setErrs and changes nothing.
func TestSharedSignalsByPoll(t *testing.T) {
	tr := newSSFTransmitter(t)
	tr.pollToken = "Bearer poll-token-0123456789"
	codes, api := newOTPReceiver(t), newUpstream(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
	testcaddy.Start(t, testcaddy.Config{
		Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[5]s
		external_url %[1]s
		login otp phone_number
		otp {
			sender webhook %[2]s/send
		}
	}
}

%[1]s {
	stepup_signals /ssf/events {
		transmitter %[3]s {
			jwks_url %[3]sjwks.json
			audience %[6]s
			poll_url %[3]spoll
			poll_authorization {env.SSF_POLL_TOKEN}
			poll_interval 1s
		}
	}
	stepup_session
	route /api/read* {
		stepup
		reverse_proxy %[4]s
	}
	respond 404
}
`, base, codes.srv.URL, tr.issuer, api.srv.URL, gatewayIssuer, ssfAudience),
		Env:     []string{"SSF_POLL_TOKEN=" + tr.pollToken},
		WaitFor: []string{base + "/.well-known/jwks.json"},
	})
	login := func(phone string) *sessionclient.Client {
		t.Helper()
		c := sessionclient.New(base)
		if r, err := c.StartLogin("phone_number", phone); err != nil || r.Status != 204 {
			t.Fatalf("login: %v %v", r, err)
		}
		if r, err := c.CheckLogin(codes.lastCode(t, phone)); err != nil || r.Status != 200 {
			t.Fatalf("check: %v %v", r, err)
		}
		return c
	}
	ivan, judy := login("+15555550401"), login("+15555550402")
	phone := func(p string) map[string]any { return map[string]any{"format": "phone_number", "phone_number": p} }
	disable := tr.set(ssfAudience, risc+"account-disabled", map[string]any{}, phone("+15555550401"))
	forged := tr.set(ssfAudience, risc+"account-disabled", map[string]any{}, phone("+15555550402"))
	forger := newSSFTransmitter(t)
	tr.queueSET(forged["jti"].(string), signWith(forger.key, map[string]any{"alg": "RS256", "kid": tr.kid, "typ": "secevent+jwt"}, forged))
	tr.queueSET(disable["jti"].(string), tr.sign(disable))

	deadline := time.Now().Add(20 * time.Second)
	for {
		acked, _ := tr.pollState(disable["jti"].(string))
		_, refused := tr.pollState(forged["jti"].(string))
		if acked && refused != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the polled SETs were not acknowledged and refused (acked %v, refused %q)", acked, refused)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, refused := tr.pollState(forged["jti"].(string)); refused != "invalid_key" {
		t.Errorf("the forged SET: %q", refused)
	}
	if r, _ := ivan.Refresh(""); r.Status != 401 {
		t.Errorf("ivan's session outlived the polled account-disabled: %v", r)
	}
	if r, _ := judy.Refresh(""); r.Status != 200 {
		t.Errorf("the forged SET ended judy's session: %v", r)
	}
	if got := fetch(t, newClient(t), "GET", base+"/api/read", bearer(ivan.AccessToken)).status; got != 401 {
		t.Errorf("ivan's token after account-disabled: %d", got)
	}
}
