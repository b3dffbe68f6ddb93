package tests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// Redis's clock as the gateway sees it, rewritten by a TCP proxy in front
// of a real redis-server (TIME answers only: scripts and TTLs run on the
// real server's clock). Two gateways share that Redis: A through the
// proxy, B directly.

const clockIssuer = "http://gateway.test"

func clockCaddyfile(base, keyFile, redisAddr, storeOptions, codesURL, apiURL string) string {
	return fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[6]s
		external_url %[1]s
		signing_key %[2]s
		refresh_token_ttl 1h
		store redis redis://%[3]s/0 {
			%[4]s
		}
		login otp phone_number
		otp {
			sender webhook %[5]s/send
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
		reverse_proxy %[7]s
	}
	route /api/open* {
		stepup
		reverse_proxy %[7]s
	}
	route /api/recent* {
		stepup {
			max_age 5m
		}
		reverse_proxy %[7]s
	}
	respond 404
}
`, base, keyFile, redisAddr, storeOptions, codesURL, clockIssuer, apiURL)
}

// signingKey writes a fresh signing key and returns it with its path.
func signingKey(t *testing.T) (*jwks.Signer, string) {
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
	return signer, keyFile
}

// gatewayToken is an access token of the gateway's own, as it mints them.
func gatewayToken(t *testing.T, signer *jwks.Signer, iat, exp, authTime time.Time) string {
	t.Helper()
	tok, err := signer.Sign("at+jwt", map[string]any{
		"iss": clockIssuer, "aud": clockIssuer, "sub": "usr_clock", "sid": "ses_clock", "jti": "tok_" + strconv.FormatInt(time.Now().UnixNano(), 36),
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": exp.Unix(), "auth_time": authTime.Unix(), "scope": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keyTTLs reads every key's PTTL (ms) on the real server.
func keyTTLs(t *testing.T, addr string) map[string]time.Duration {
	t.Helper()
	list, err := redistest.Do(addr, "KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, key := range strings.Fields(list) {
		ms, err := redistest.Do(addr, "PTTL", key)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			t.Fatalf("PTTL %s: %q", key, ms)
		}
		out[key] = time.Duration(n) * time.Millisecond
	}
	return out
}

// checkTTLs fails for a key without a TTL or one longer than its kind's
// configured lifetime.
func checkTTLs(t *testing.T, addr string) {
	t.Helper()
	limits := []struct {
		prefix string
		max    time.Duration
	}{
		{"stepup:ses:", time.Hour},         // refresh_token_ttl
		{"stepup:chl:", 10 * time.Minute},  // its step, then the wait for its redemption
		{"stepup:grt:", 5 * time.Minute},   // granted_for
		{"stepup:flow:", 15 * time.Minute}, // a login flow
		{"stepup:jti:", 2 * time.Minute},   // DPoP replay markers
		{"stepup:", 400 * 24 * time.Hour},  // the longest of all: a user record
	}
	ttls := keyTTLs(t, addr)
	sessions := 0
	for key, ttl := range ttls {
		if ttl <= 0 {
			t.Errorf("key %s has no TTL (PTTL %v)", key, ttl)
			continue
		}
		if strings.HasPrefix(key, "stepup:ses:") {
			sessions++
		}
		if strings.HasPrefix(key, "stepup:usr:{") && strings.HasSuffix(key, "}:sessions") && ttl > time.Hour {
			t.Errorf("the sessions index %s lives %v, over refresh_token_ttl (1h)", key, ttl)
		}
		for _, l := range limits {
			if strings.HasPrefix(key, l.prefix) && ttl > l.max {
				t.Errorf("key %s lives %v, over its configured %v", key, ttl, l.max)
			}
		}
	}
	if sessions == 0 {
		t.Fatalf("no session key among %d keys: the check checked nothing", len(ttls))
	}
}

// TestRedisClockIsCheckedNotBelieved runs the whole product on a Redis
// whose TIME answers are two hours behind, a year ahead, jumping between
// answers, or 4 s ahead (within a configured bound of 5 s). A client with
// a correct clock logs in on A, refreshes on B, steps up on A and spends
// the grant on B: it is never refused. Tokens that expired an hour ago,
// and an authentication an hour old on a max_age route, never reach the
// upstream on either gateway. No key on the real server has a TTL over
// its configured lifetime (a session created on A and refreshed on B
// included). A clock beyond the bound shows as an error in A's log and in
// its metric; B, on the real clock, reports nothing.
func TestRedisClockIsCheckedNotBelieved(t *testing.T) {
	year := 365 * 24 * time.Hour
	for _, tc := range []struct {
		name         string
		shift        func(n int) time.Duration
		storeOptions string
		reason       string // the fault A reports; "" = none
	}{
		{"two hours behind", func(int) time.Duration { return -2 * time.Hour }, "", "out_of_bound"},
		{"a year ahead", func(int) time.Duration { return year }, "", "out_of_bound"},
		{"jumping between answers", func(n int) time.Duration { return []time.Duration{0, -2 * time.Hour, year}[n%3] }, "", "inconsistent"},
		{"4s ahead within a bound of 5s", func(int) time.Duration { return 4 * time.Second }, "max_clock_offset 5s", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redis := redistest.Start(t)
			proxy := redistest.StartTimeProxy(t, redis.Addr)
			proxy.SetShift(tc.shift)
			signer, keyFile := signingKey(t)
			codes, api := newOTPReceiver(t), newUpstream(t)
			var bases []string
			var insts []*testcaddy.Instance
			for _, addr := range []string{proxy.Addr, redis.Addr} {
				base := fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
				insts = append(insts, testcaddy.Start(t, testcaddy.Config{
					Caddyfile: clockCaddyfile(base, keyFile, addr, tc.storeOptions, codes.srv.URL, api.srv.URL),
					WaitFor:   []string{base + "/.well-known/jwks.json"},
				}))
				bases = append(bases, base)
			}
			if proxy.Answers() == 0 {
				t.Fatal("gateway A never asked the proxy for TIME")
			}

			// What expired on the instance's clock is refused on both: a
			// token that expired an hour ago, and an authentication an hour
			// old where max_age is 5m (both issued over two hours ago, so
			// that a clock two hours behind would find them current).
			now := time.Now()
			issued := now.Add(-2*time.Hour - 5*time.Minute)
			expired := gatewayToken(t, signer, issued, now.Add(-time.Hour), issued)
			stale := gatewayToken(t, signer, issued, now.Add(10*time.Minute), now.Add(-time.Hour))
			fresh := gatewayToken(t, signer, now, now.Add(10*time.Minute), now)
			client := newClient(t)
			for i, base := range bases {
				gw := string(rune('A' + i))
				if r := fetch(t, client, "GET", base+"/api/open", bearer(expired)); r.status != http.StatusUnauthorized || r.code != "unauthorized" {
					t.Errorf("a token expired an hour ago on %s: %d %s", gw, r.status, r.body)
				}
				if r := fetch(t, client, "GET", base+"/api/recent", bearer(stale)); r.status != http.StatusUnauthorized ||
					!strings.Contains(r.wwwAuth, "insufficient_user_authentication") {
					t.Errorf("an authentication an hour old on a max_age 5m route on %s: %d %q", gw, r.status, r.wwwAuth)
				}
			}
			if hits := api.hits.Load(); hits != 0 {
				t.Fatalf("%d upstream hits: an expired credential reached the upstream", hits)
			}

			// A client with a correct clock: login on A, refresh on B,
			// step-up on A, redemption on B, the transfer on A.
			a := sessionclient.New(bases[0])
			a.HTTP = newClient(t)
			if r, err := a.StartLogin("phone_number", "+33612345678"); err != nil || r.Status != http.StatusNoContent {
				t.Fatalf("login/otp on A: %v %v", r, err)
			}
			if r, err := a.CheckLogin(codes.last(t, "login").Code); err != nil || r.Status != http.StatusOK {
				t.Fatalf("login/otp/check on A: %v %v", r, err)
			}
			b := sameBrowserAt(a, bases[1])
			if r, err := b.Refresh(""); err != nil || r.Status != http.StatusOK {
				t.Fatalf("refresh on B of a session made on A: %v %v", r, err)
			}
			a.RefreshToken, a.AccessToken = b.RefreshToken, b.AccessToken
			req, err := a.RequestStepUp("transfer:write", nil)
			if err != nil || req.Status != http.StatusOK {
				t.Fatalf("stepup/request on A: %v %v", req, err)
			}
			challenge := req.String("challenge_token")
			if r, err := a.SendOTP(challenge); err != nil || r.Status != http.StatusNoContent {
				t.Fatalf("otp on A: %v %v", r, err)
			}
			done, err := a.CheckOTP(challenge, codes.last(t, "step_up").Code)
			if err != nil || done.Status != http.StatusOK {
				t.Fatalf("otp/check on A: %v %v", done, err)
			}
			red, err := b.Refresh(done.String("challenge_token"))
			if err != nil || red.Status != http.StatusOK {
				t.Fatalf("redemption on B: %v %v", red, err)
			}
			a.AccessToken = b.AccessToken
			if r, err := a.Do(sessionclient.Request{Method: http.MethodPost, Path: "/api/transfers", Bearer: true}); err != nil || r.Status != http.StatusOK {
				t.Fatalf("the transfer on A: %v %v", r, err)
			}
			for i, base := range bases {
				if r := fetch(t, client, "GET", base+"/api/recent", bearer(fresh)); r.status != http.StatusOK {
					t.Errorf("a fresh token on gateway %c: %d %s", 'A'+i, r.status, r.body)
				}
			}
			if hits := api.hits.Load(); hits != 3 {
				t.Fatalf("%d upstream hits after the transfer and two fresh tokens, want 3", hits)
			}

			checkTTLs(t, redis.Addr)

			metric := scrape(t, insts[0])
			faults := 0.0
			for _, reason := range []string{"out_of_bound", "jump", "inconsistent"} {
				faults += metric[`caddy_stepup_redis_clock_faults_total{reason="`+reason+`"}`]
			}
			logged := strings.Count(insts[0].Log(), `"msg":"redis clock not trusted"`)
			if tc.reason == "" {
				if faults != 0 || logged != 0 {
					t.Errorf("a clock within the bound: %v faults counted, %d logged", faults, logged)
				}
			} else {
				if metric[`caddy_stepup_redis_clock_faults_total{reason="`+tc.reason+`"}`] < 1 {
					t.Errorf("A's metric has no %s fault: %v", tc.reason, faults)
				}
				if !strings.Contains(insts[0].Log(), `"reason":"`+tc.reason+`"`) || logged == 0 {
					t.Errorf("A's log has no %s clock error", tc.reason)
				}
			}
			if strings.Contains(insts[1].Log(), "redis clock not trusted") {
				t.Error("B, on the real clock, reported a clock fault")
			}
		})
	}
}
