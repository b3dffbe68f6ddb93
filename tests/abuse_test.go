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
	victimPhone = "+14155550123"
	victimIP    = "127.0.0.2"
	strangerIP  = "127.0.0.3"
)

// guess sends a wrong login code for c's flow; it returns the error code.
func guess(t *testing.T, c *sessionclient.Client, right string) string {
	t.Helper()
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	resp, err := c.CheckLogin(wrong)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Code()
}

// TestStrangersCannotLockOutOrStarveTheVictim: a stranger who starts
// logins for the victim's number and guesses codes slows down only
// themself; the victim logs in from another client at once, and, once
// strangers at several addresses spent the number's shared sends, still
// from the device it used before.
func TestStrangersCannotLockOutOrStarveTheVictim(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t)})
			device := env.login(t, env.from(t, 0, victimIP), victimPhone, "")
			if device == "" {
				t.Fatal("the login set no device cookie")
			}
			stranger := env.from(t, 0, strangerIP)
			codes := map[string]int{}
			for i := 0; i < 4; i++ { // 20 wrong codes
				if resp, err := env.start(stranger, victimPhone, ""); err != nil || resp.Status != 204 {
					t.Fatalf("stranger's start: %v %v", resp, err)
				}
				right := env.codes.lastCode(t, victimPhone)
				for j := 0; j < 5; j++ {
					codes[guess(t, stranger, right)]++
				}
			}
			if codes["bad_check_code"] != 10 || codes["rate_limited"] != 10 {
				t.Fatalf("the stranger's 20 guesses: %v; want 10 compared, then 10 made to wait", codes)
			}
			// The victim, from a new client: neither slowed nor locked.
			env.login(t, env.from(t, 0, "127.0.0.4"), victimPhone, "")
			// The stranger has sent the number its share (one login's codes);
			// another stranger spends the rest of the number's shared sends
			// (10 an hour: 2 victim logins and 4 stranger starts so far).
			if resp, err := env.start(stranger, victimPhone, ""); err != nil || resp.Status != 429 {
				t.Fatalf("the stranger's fifth code to the number: %v %v", resp, err)
			}
			accomplice := env.from(t, 0, "127.0.0.16")
			for i := 0; i < 4; i++ {
				if resp, err := env.start(accomplice, victimPhone, ""); err != nil || resp.Status != 204 {
					t.Fatalf("another stranger's start %d: %v %v", i, resp, err)
				}
			}
			if resp, err := env.start(env.from(t, 0, "127.0.0.5"), victimPhone, ""); err != nil || resp.Status != 429 {
				t.Fatalf("the eleventh code of the hour for the number: %v %v", resp, err)
			}
			// The victim's device has its own.
			sent := env.codes.count()
			env.login(t, env.from(t, 0, victimIP), victimPhone, device)
			if env.codes.count() != sent+1 {
				t.Fatal("the device's login sent no code")
			}
		})
	}
}

// TestOneClientCannotPumpCodes: logins for 300 numbers from one client
// that proves none: its 20 unproven codes are sent, the rest refused with
// 429 before any send.
func TestOneClientCannotPumpCodes(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t)})
			c := env.from(t, 0, "127.0.0.6")
			statuses := map[int]int{}
			for i := 0; i < 300; i++ {
				resp, err := env.start(c, fmt.Sprintf("+1415556%04d", i), "")
				if err != nil {
					t.Fatal(err)
				}
				statuses[resp.Status]++
				if resp.Status == 429 && resp.Code() != "rate_limited" {
					t.Fatalf("429 with code %q", resp.Code())
				}
			}
			if statuses[204] != 20 || statuses[429] != 280 || env.codes.count() != 20 {
				t.Fatalf("300 starts from one client: %v, %d codes sent; want 20 sent and 280 refused", statuses, env.codes.count())
			}
			// Another client is not affected.
			if resp, err := env.start(env.from(t, 0, "127.0.0.7"), "+14155569999", ""); err != nil || resp.Status != 204 {
				t.Fatalf("another client: %v %v", resp, err)
			}
		})
	}
}

// TestLimitsAreSharedByInstances: two gateways on one Redis count one
// client's unproven codes, and all clients' starts, together.
func TestLimitsAreSharedByInstances(t *testing.T) {
	env := startAbuseGateways(t, abuseConfig{instances: 2, store: "store redis redis://" + redistest.Start(t).Addr + "/0",
		options: "limits {\n\t\t\tlogin_starts 25 10m\n\t\t}"})
	alice := []*sessionclient.Client{env.from(t, 0, "127.0.0.8"), env.from(t, 1, "127.0.0.8")}
	for i := 0; i < 20; i++ {
		if resp, err := env.start(alice[i%2], fmt.Sprintf("+1415557%04d", i), ""); err != nil || resp.Status != 204 {
			t.Fatalf("start %d: %v %v", i, resp, err)
		}
	}
	for i, c := range alice {
		if resp, err := env.start(c, "+14155579999", ""); err != nil || resp.Status != 429 {
			t.Fatalf("the client's 21st unproven code, on gateway %d: %v %v", i, resp, err)
		}
	}
	for i := 0; i < 5; i++ {
		if resp, err := env.start(env.from(t, i%2, "127.0.0.9"), fmt.Sprintf("+1415558%04d", i), ""); err != nil || resp.Status != 204 {
			t.Fatalf("another client's start %d: %v %v", i, resp, err)
		}
	}
	for i := 0; i < 2; i++ {
		if resp, err := env.start(env.from(t, i, "127.0.0.10"), "+14155589999", ""); err != nil || resp.Status != 429 {
			t.Fatalf("the 26th start of all clients, on gateway %d: %v %v", i, resp, err)
		}
	}
	if env.codes.count() != 25 {
		t.Fatalf("%d codes sent, want 25", env.codes.count())
	}
}

// TestResendsAndTheHookPassTheLocksAndCaps: 100 wrong codes from 20
// clients lock the number for clients without a device of it, and a
// resend of a flow started before is refused like a start; the delegation
// hook is called only within the challenge cap.
func TestResendsAndTheHookPassTheLocksAndCaps(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			// Ten codes an hour to one number would make 100 guesses take two
			// hours; the send cap is not what this test is about.
			env := startAbuseGateways(t, abuseConfig{store: st.store(t), otpOptions: "max_per_hour 100"})
			waiting := env.from(t, 0, "127.0.1.250")
			if resp, err := env.start(waiting, victimPhone, ""); err != nil || resp.Status != 204 {
				t.Fatalf("start: %v %v", resp, err)
			}
			for i := 0; i < 20; i++ {
				c := env.from(t, 0, fmt.Sprintf("127.0.1.%d", i+1))
				if resp, err := env.start(c, victimPhone, ""); err != nil || resp.Status != 204 {
					t.Fatalf("stranger %d: %v %v", i, resp, err)
				}
				right := env.codes.lastCode(t, victimPhone)
				for j := 0; j < 5; j++ {
					if code := guess(t, c, right); code != "bad_check_code" {
						t.Fatalf("guess %d of stranger %d: %s", j, i, code)
					}
				}
			}
			sent := env.codes.count()
			if resp, err := waiting.RetryLogin(); err != nil || resp.Status != 429 {
				t.Fatalf("a resend for a locked number: %v %v", resp, err)
			}
			if resp, err := env.start(env.from(t, 0, "127.0.1.251"), victimPhone, ""); err != nil || resp.Status != 429 {
				t.Fatalf("a start for a locked number: %v %v", resp, err)
			}
			if env.codes.count() != sent {
				t.Fatal("a code was sent to a locked number")
			}

			user := env.from(t, 0, "127.0.0.11")
			env.login(t, user, "+14155550777", "")
			for i := 0; i < 15; i++ {
				resp, err := user.RequestStepUp("transfer:write", nil)
				if err != nil {
					t.Fatal(err)
				}
				if (i < 10 && resp.Status != 200) || (i >= 10 && resp.Code() != "rate_limited") {
					t.Fatalf("step-up request %d: %d %s", i, resp.Status, resp.Body)
				}
			}
			if n := len(env.hook.calls()); n != 10 {
				t.Fatalf("15 step-up requests made %d hook calls, want 10", n)
			}
		})
	}
}

// TestRefreshTokenFamilies: a token two rotations old revokes the session;
// a proof is refused again after 20 refreshes.
func TestRefreshTokenFamilies(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t)})
			c := env.from(t, 0, "127.0.0.12")
			env.login(t, c, "+14155550888", "")
			t0 := c.RefreshToken
			proof := c.Proof("POST", "/v1/session/refresh", "fixed-jti-1", c.Nonce)
			replayed := sessionclient.Request{Method: "POST", Path: "/v1/session/refresh", Refresh: true, Header: http.Header{"DPoP": {proof}}}
			if resp, err := c.Do(replayed); err != nil || resp.Status != 200 {
				t.Fatalf("refresh with the proof: %v %v", resp, err)
			}
			for i := 0; i < 20; i++ {
				if resp, err := c.Refresh(""); err != nil || resp.Status != 200 {
					t.Fatalf("refresh %d: %v %v", i, resp, err)
				}
			}
			if resp, err := c.Do(replayed); err != nil || resp.Code() != "invalid_dpop_proof" {
				t.Fatalf("the proof again after 20 refreshes: %v %v", resp, err)
			}
			current := c.RefreshToken
			c.RefreshToken = t0
			if resp, err := c.Refresh(""); err != nil || resp.Status != 401 {
				t.Fatalf("a token 21 rotations old: %v %v", resp, err)
			}
			c.RefreshToken = current
			if resp, err := c.Refresh(""); err != nil || resp.Status != 401 {
				t.Fatalf("the current token after a retired one came back: %v %v", resp, err)
			}
		})
	}
}

// TestSessionBoundGrantNeverOutlivesItsEnd: with a 1 s leeway, a scope
// granted for 3 s is carried by tokens whose exp, plus the leeway every
// verifier allows, is within the grant: at its end it no longer verifies.
func TestSessionBoundGrantNeverOutlivesItsEnd(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t), options: "leeway 1s", grantedFor: "3s"})
			c := env.from(t, 0, "127.0.0.13")
			env.login(t, c, "+14155550999", "")
			before := time.Now().Unix()
			red := stepUpBySMS(t, c, env.codes, "profile:write", nil)
			after := time.Now().Unix()
			claims := sessionclient.Claims(red.String("access_token"))
			exp := int64(claims["exp"].(float64))
			// The grant ends 3 s after the redemption, which happened in [before, after]
			// (the step took less than a second before it).
			if claims["scope"] != "profile:write" || exp+1 > after+3 || exp < before+1 {
				t.Fatalf("token for a 3 s grant redeemed in [%d, %d]: scope %v, exp %d", before, after, claims["scope"], exp)
			}
			profile := sessionclient.Request{Method: "GET", Path: "/api/profile", Bearer: true}
			if resp, err := c.Do(profile); err != nil || resp.Status != 200 {
				t.Fatalf("within the grant: %v %v", resp, err)
			}
			time.Sleep(time.Until(time.Unix(exp+2, 0))) // past exp + leeway, i.e. at or past the grant's end
			if resp, err := c.Do(profile); err != nil || resp.Status != 401 || resp.Code() != "unauthorized" {
				t.Fatalf("at the grant's end: %v %v", resp, err)
			}
			resp, err := c.Refresh("")
			if err != nil || resp.Status != 200 || sessionclient.Claims(resp.String("access_token"))["scope"] == "profile:write" {
				t.Fatalf("a refresh after the grant: %v %v", resp, err)
			}
		})
	}
}

// TestCrossSitePostsAreRefused: with cors set (cookies SameSite=None), a
// form another site posts with the victim's cookies changes nothing.
func TestCrossSitePostsAreRefused(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t)})
			c := env.from(t, 0, "127.0.0.14")
			env.login(t, c, "+14155551111", "")
			cookie := http.Header{"Cookie": {"__Host-stepup-refresh=" + c.RefreshToken}, "Content-Type": {"application/x-www-form-urlencoded"}}
			for name, extra := range map[string]http.Header{
				"evil origin":           {"Origin": {"https://evil.example"}},
				"null origin":           {"Origin": {"null"}},
				"sibling origin":        {"Origin": {"https://app.example.com.evil.example"}},
				"two origins":           {"Origin": {"https://app.example.com", "https://evil.example"}},
				"cross-site, no Origin": {"Sec-Fetch-Site": {"cross-site"}},
			} {
				t.Run(name, func(t *testing.T) {
					h := cookie.Clone()
					for k, v := range extra {
						h[k] = v
					}
					for _, path := range []string{"/v1/session/revoke", "/v1/session/login/otp/retry", "/v1/session/otp/retry", "/v1/session/refresh"} {
						resp, err := c.Do(sessionclient.Request{Method: "POST", Path: path, Header: h})
						if err != nil || resp.Status != 403 || resp.Code() != "forbidden" {
							t.Fatalf("%s: %v %v", path, resp, err)
						}
					}
				})
			}
			if resp, err := c.Refresh(""); err != nil || resp.Status != 200 {
				t.Fatalf("the session after the forged posts: %v %v", resp, err)
			}
			h := http.Header{"Cookie": {"__Host-stepup-refresh=" + c.RefreshToken}, "Origin": {"https://app.example.com"}}
			if resp, err := c.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/revoke", Header: h, SessionDPoP: true}); err != nil || resp.Status != 204 {
				t.Fatalf("logout from the cors origin: %v %v", resp, err)
			}
			if resp, err := c.Refresh(""); err != nil || resp.Status != 401 {
				t.Fatalf("the session after logout: %v %v", resp, err)
			}
		})
	}
}

// TestVerificationTokensAreReadStrictly: claim names exactly, and the
// custom_steps issuer, audience and max_lifetime.
func TestVerificationTokensAreReadStrictly(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t)})
			c := env.from(t, 0, "127.0.0.15")
			env.login(t, c, "+14155552222", "")
			sign := func(t *testing.T, mutate func(map[string]any), challenge map[string]any) string {
				now := time.Now()
				claims := map[string]any{
					"iss": "https://backend.test", "aud": "gateway-test", "sub": challenge["sub"], "challenge_id": challenge["challenge_id"],
					"key": "kyc_review", "status": "completed", "jti": fmt.Sprint(now.UnixNano()), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
				}
				if mutate != nil {
					mutate(claims)
				}
				return env.key.sign(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": env.key.kid}, claims)
			}
			req, err := c.RequestStepUp("kyc:write", nil)
			if err != nil || req.Status != 200 {
				t.Fatalf("stepup/request: %v %v", req, err)
			}
			tok := req.String("challenge_token")
			challenge := sessionclient.Claims(tok)
			for name, mutate := range map[string]func(map[string]any){
				"Challenge_ID":   func(m map[string]any) { m["Challenge_ID"] = m["challenge_id"]; delete(m, "challenge_id") },
				"Key":            func(m map[string]any) { m["Key"] = m["key"]; delete(m, "key") },
				"STATUS":         func(m map[string]any) { m["STATUS"] = m["status"]; delete(m, "status") },
				"another issuer": func(m map[string]any) { m["iss"] = "https://elsewhere.test" },
				"no issuer":      func(m map[string]any) { delete(m, "iss") },
				"another aud":    func(m map[string]any) { m["aud"] = "someone-else" },
				"living 1 hour":  func(m map[string]any) { m["exp"] = time.Now().Add(time.Hour).Unix() },
				"no iat":         func(m map[string]any) { delete(m, "iat") },
			} {
				t.Run(name, func(t *testing.T) {
					resp, err := c.Continue(tok, sign(t, mutate, challenge))
					if err != nil || resp.Status != 400 || resp.Code() != "invalid_verification_token" {
						t.Fatalf("%v %v", resp, err)
					}
				})
			}
			if resp, err := c.Continue(tok, sign(t, nil, challenge)); err != nil || resp.Status != 200 {
				t.Fatalf("the right verification token: %v %v", resp, err)
			}
		})
	}
}

// TestEvictingRedisFailsTheLoad: attempt counters and replay markers must
// not be evictable; the word allow_eviction accepts the risk.
func TestEvictingRedisFailsTheLoad(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
	caddyfile := func(block string) string {
		return fmt.Sprintf("{\n admin {admin}\n stepup {\n issuer http://127.0.0.1\n store redis redis://%s/0 {\n%s\n }\n }\n}\nhttp://127.0.0.1:%d {\n stepup_session\n}\n",
			srv.Addr, block, testcaddy.FreePort(t))
	}
	out := testcaddy.StartErr(t, caddyfile(""))
	if !strings.Contains(out, "allkeys-lru") || !strings.Contains(out, "noeviction") || !strings.Contains(out, "allow_eviction") {
		t.Fatalf("the load did not fail saying why:\n%s", out)
	}
	testcaddy.Start(t, testcaddy.Config{Caddyfile: caddyfile("allow_eviction")})
}
