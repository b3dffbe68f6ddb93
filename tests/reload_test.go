package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// reloadCaddyfile is a gateway whose config differs only by the access
// tokens' lifetime, so that each reload really replaces every module.
func reloadCaddyfile(base, store, codesURL, upstreamURL string, ttl time.Duration) string {
	return fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[1]s
		%[2]s
		access_token_ttl %[5]s
		login otp phone_number
		otp {
			sender webhook %[3]s/send
		}
		scope transfer:write {
			direct {
				step verify_sms 5m
			}
		}
	}
}
%[1]s {
	stepup_session
	route /api/me* {
		stepup
		reverse_proxy %[4]s
	}
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[4]s
	}
	respond 404
}
`, base, store, codesURL, upstreamURL, ttl)
}

// reloadCall is one request of the traffic and the one status it must get.
type reloadCall struct {
	method, path string
	bearer       bool
	want         int
}

var reloadCalls = []reloadCall{
	{"GET", "/api/me", true, 200},                 // a stepup route the token passes
	{"POST", "/api/transfers", true, 401},         // a stepup route asking for a step-up
	{"GET", "/api/me", false, 401},                // no token
	{"GET", "/.well-known/jwks.json", false, 200}, // the stepup_session handler
	{"POST", "/v1/session/refresh", false, 400},   // the session API without its proof
}

// kernelMigratesConnections reports whether Linux hands the connections
// waiting in a closing listener's accept queue to another listener of the
// same port (net.ipv4.tcp_migrate_req, Linux 5.14). Caddy binds each
// config's listeners with SO_REUSEPORT and closes the old ones at a
// reload; without migration the kernel resets the connections it had queued
// on an old socket, before any server reads them (the client sees a reset
// or EOF). That is the kernel's and Caddy's, not the gateway's: a request
// so refused never reached a handler.
func kernelMigratesConnections() bool {
	v, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	return err == nil && strings.TrimSpace(string(v)) == "1"
}

// fetchAfterReload is fetch for the first request after a reload, on a
// new connection: one the kernel resets before any server read it (see
// kernelMigratesConnections) is sent again, at most three times. A request
// that got an answer is not sent again, whatever the answer.
func fetchAfterReload(t *testing.T, client *http.Client, method, url string, header http.Header) answer {
	t.Helper()
	var err error
	for range 3 {
		var a answer
		if a, err = tryFetch(t, client, method, url, header, nil); err == nil {
			return a
		}
		if kernelMigratesConnections() {
			break
		}
		t.Logf("%s %s after a reload: %v; sent again", method, url, err)
	}
	t.Fatal(err)
	return answer{}
}

// TestReloadsUnderTrafficAnswerNo503: a gateway reloaded 15 times while
// four clients call it without pause (two reusing connections, two opening
// one per request, so that some land on each new config's servers as soon
// as they listen): every request gets its usual answer, none a 503 or a
// connection the server broke (connections the kernel resets before any
// server reads them are counted, see kernelMigratesConnections). Caddy starts a new config's apps in no set order, so
// its HTTP servers may take requests before the stepup app has started.
func TestReloadsUnderTrafficAnswerNo503(t *testing.T) {
	for _, st := range sdkStores[:2] {
		t.Run(st.name, func(t *testing.T) {
			api, codes := newUpstream(t), newOTPReceiver(t)
			port := testcaddy.FreePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			store := st.store(t)
			inst := testcaddy.Start(t, testcaddy.Config{Caddyfile: reloadCaddyfile(base, store, codes.srv.URL, api.srv.URL, 15*time.Minute),
				WaitFor: []string{base + "/.well-known/jwks.json"}})
			c := sessionclient.New(base)
			if r, err := c.StartLogin("phone_number", "+15555550191"); err != nil || r.Status != 204 {
				t.Fatalf("login: %v %v", r, err)
			}
			if r, err := c.CheckLogin(codes.lastCode(t, "+15555550191")); err != nil || r.Status != 200 {
				t.Fatalf("check: %v %v", r, err)
			}
			token := c.AccessToken

			var (
				stop     atomic.Bool
				sent     atomic.Int64
				resets   atomic.Int64
				mu       sync.Mutex
				failures = map[string]int{} // by request and answer
				wg       sync.WaitGroup
			)
			fail := func(s string) {
				mu.Lock()
				defer mu.Unlock()
				failures[s]++
			}
			for worker := range 4 {
				tr := &http.Transport{DisableKeepAlives: worker >= 2}
				t.Cleanup(tr.CloseIdleConnections)
				client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := worker; !stop.Load(); i++ {
						call := reloadCalls[i%len(reloadCalls)]
						req, _ := http.NewRequest(call.method, base+call.path, bytes.NewReader(nil))
						if call.bearer {
							req.Header.Set("Authorization", "Bearer "+token)
						}
						if call.method == "POST" {
							// Replayable: a POST sent on a kept-alive connection the
							// old server closes as idle is retried, as a GET is.
							req.Header.Set("Idempotency-Key", fmt.Sprintf("w%d-%d", worker, i))
						}
						resp, err := client.Do(req)
						sent.Add(1)
						if err != nil {
							resets.Add(1)
							if kernelMigratesConnections() {
								fail(fmt.Sprintf("%s %s: %v", call.method, call.path, err))
							}
							continue
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != call.want {
							fail(fmt.Sprintf("%s %s: %d, want %d: %s", call.method, call.path, resp.StatusCode, call.want, strings.TrimSpace(string(body))))
						}
					}
				}()
			}
			time.Sleep(300 * time.Millisecond)
			before := sent.Load()
			for i := range 15 {
				inst.Reload(t, reloadCaddyfile(base, store, codes.srv.URL, api.srv.URL, time.Duration(16+i)*time.Minute))
				time.Sleep(100 * time.Millisecond)
			}
			during := sent.Load() - before
			stop.Store(true)
			wg.Wait()
			for f, n := range failures {
				t.Errorf("%d times: %s", n, f)
			}
			if during < 60 {
				t.Errorf("only %d requests were sent during the reloads", during)
			}
			t.Logf("%d requests during 15 reloads; %d connections reset before a server read them", during, resets.Load())
		})
	}
}
