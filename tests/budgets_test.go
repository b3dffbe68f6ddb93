package tests

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// The budgets of one client against crowds behind one address: every
// test here runs on memory and on Redis, with the default per-client
// limits. The deployment-wide `login_starts` and `sends` (600 a minute)
// are raised: the tests run an hour's logins in well under a minute.
const crowdLimits = "limits {\n\t\t\tlogin_starts 1000000 1m\n\t\t\tsends 1000000 1m\n\t\t}"

// address makes session clients of gateway 0 that all connect from the
// loopback address ip, over one shared transport.
func (env *abuseEnv) address(t *testing.T, ip string) func() *sessionclient.Client {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	httpClient := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return func() *sessionclient.Client {
		c := sessionclient.New(env.bases[0])
		c.HTTP = httpClient
		return c
	}
}

// tryLogin is login for worker goroutines: it returns what went wrong
// instead of failing the test.
func (env *abuseEnv) tryLogin(c *sessionclient.Client, phone, device string) (string, error) {
	start, err := env.start(c, phone, device)
	if err != nil {
		return "", err
	}
	if start.Status != http.StatusNoContent {
		return "", fmt.Errorf("login/otp for %s: %v", phone, start)
	}
	last, sent := env.codes.newestTo(phone)
	if sent == 0 {
		return "", fmt.Errorf("no code reached %s", phone)
	}
	checked, err := c.CheckLogin(last.Code)
	if err != nil {
		return "", err
	}
	if checked.Status != http.StatusOK {
		return "", fmt.Errorf("login/otp/check for %s: %v", phone, checked)
	}
	return cookieValue(checked.Header, "__Host-stepup-device"), nil
}

// parallel runs f(0..n-1) on workers goroutines and returns the first
// error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// TestManyUsersBehindOneAddressAndAClientSendingCodesToStrangers: 1,000 honest users behind one IPv4
// address (a carrier-grade NAT) each complete a login (each proven code is
// given back to the address); a pumper at the same address, who never
// proves a code, is stopped at the address's 20 unproven codes; and the
// 1,000 users log in again, with the device cookies their first logins
// earned, while the pumper keeps trying. The logins of the hour run back
// to back (no clock is moved: nothing an honest user does waits for a
// window). What remains: a new user behind that address, without a device
// cookie, waits for the pumper's window to end; one elsewhere does not.
func TestManyUsersBehindOneAddressAndAClientSendingCodesToStrangers(t *testing.T) {
	const users, nat = 1000, "127.0.0.20"
	phone := func(i int) string { return fmt.Sprintf("+1415620%04d", i) }
	premium := func(i int) string { return fmt.Sprintf("+88216%06d", i) }
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t), options: crowdLimits})
			behindNAT := env.address(t, nat)
			clients := make([]*sessionclient.Client, users)
			devices := make([]string, users)
			if err := parallel(users, 8, func(i int) error {
				clients[i] = behindNAT()
				var err error
				devices[i], err = env.tryLogin(clients[i], phone(i), "")
				if err == nil && devices[i] == "" {
					err = fmt.Errorf("user %d's login set no device cookie", i)
				}
				return err
			}); err != nil {
				t.Fatalf("the first logins behind the NAT: %v", err)
			}

			pumper := behindNAT()
			var pumped atomic.Int64
			pump := func() (int, error) {
				i := int(pumped.Add(1)) - 1
				resp, err := pumper.StartLogin("phone_number", premium(i))
				if err != nil {
					return 0, err
				}
				if resp.Status == http.StatusNoContent {
					// The pumper also asks for every resend it may.
					for r := 0; r < 3; r++ {
						time.Sleep(2 * time.Millisecond) // the test gateway's resend cooldown is 1ms
						if _, err := pumper.RetryLogin(); err != nil {
							return 0, err
						}
					}
				} else if resp.Status != http.StatusTooManyRequests || resp.Code() != "rate_limited" {
					return 0, fmt.Errorf("the pumper's start: %v", resp)
				}
				return resp.Status, nil
			}
			received := func() int {
				n := 0
				for i := range int(pumped.Load()) {
					_, sent := env.codes.newestTo(premium(i))
					n += sent
				}
				return n
			}
			for range 100 {
				if _, err := pump(); err != nil {
					t.Fatal(err)
				}
			}
			if got := received(); got != 20 {
				t.Fatalf("the pumper's numbers received %d codes, want the address's 20 unproven ones", got)
			}

			// The crowd comes back while the pumper keeps trying.
			stop := make(chan struct{})
			pumperDone := make(chan error, 1)
			go func() {
				for {
					select {
					case <-stop:
						pumperDone <- nil
						return
					default:
					}
					if status, err := pump(); err != nil || status != http.StatusTooManyRequests {
						pumperDone <- fmt.Errorf("the pumper during the crowd's logins: %d %v", status, err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			err := parallel(users, 8, func(i int) error {
				_, err := env.tryLogin(clients[i], phone(i), devices[i])
				return err
			})
			close(stop)
			if err != nil {
				t.Fatalf("the second logins behind the NAT: %v", err)
			}
			if err := <-pumperDone; err != nil {
				t.Fatal(err)
			}
			if got, tried := received(), pumped.Load(); got != 20 || tried < 120 {
				t.Fatalf("after %d starts the pumper's numbers received %d codes, want 20", tried, got)
			}
			for i := range users {
				if _, sent := env.codes.newestTo(phone(i)); sent != 2 {
					t.Fatalf("user %d received %d codes, want 2", i, sent)
				}
			}

			if resp, err := env.start(behindNAT(), "+14156209999", ""); err != nil || resp.Status != 429 {
				t.Fatalf("a new user behind the pumper's address: %v %v", resp, err)
			}
			if _, err := env.tryLogin(env.from(t, 0, "127.0.0.21"), "+14156209999", ""); err != nil {
				t.Fatalf("the same new user from another address: %v", err)
			}
		})
	}
}

// TestStrangerCannotDelayAVictimsNewDevice: a stranger at one address
// starts logins for the victim's number and asks for every resend; the
// number receives one login's codes (4) from it, not its hourly 10, and
// the victim, from a new device at another address, gets its code at once.
func TestStrangerCannotDelayAVictimsNewDevice(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t)})
			stranger := env.from(t, 0, strangerIP)
			statuses := map[int]int{}
			for i := 0; i < 10; i++ {
				resp, err := env.start(stranger, victimPhone, "")
				if err != nil {
					t.Fatal(err)
				}
				statuses[resp.Status]++
				for r := 0; r < 3 && resp.Status == 204; r++ {
					time.Sleep(2 * time.Millisecond) // the resend cooldown is 1ms
					retry, err := stranger.RetryLogin()
					if err != nil {
						t.Fatal(err)
					}
					statuses[retry.Status]++
				}
			}
			if _, sent := env.codes.newestTo(victimPhone); sent != 4 || statuses[204] != 4 || statuses[429] != 9 {
				t.Fatalf("the stranger's starts and resends: %v, %d codes to the number; want 4 sent, then 9 refused", statuses, sent)
			}
			victim := env.from(t, 0, victimIP)
			resp, err := env.start(victim, victimPhone, "")
			if err != nil || resp.Status != 204 {
				t.Fatalf("the victim's new device: %v %v", resp, err)
			}
			last, sent := env.codes.newestTo(victimPhone)
			if sent != 5 {
				t.Fatalf("%d codes reached the number, want the stranger's 4 and the victim's", sent)
			}
			if checked, err := victim.CheckLogin(last.Code); err != nil || checked.Status != 200 {
				t.Fatalf("the victim's login: %v %v", checked, err)
			}
		})
	}
}

// TestIPv6ClientsAreCountedBy48: behind a trusted proxy that names IPv6
// clients (loopback offers only ::1, a single /48), a pumper spread over
// 20 /64s of one /48 gets the /48's 20 unproven codes, and is refused from
// a 21st /64; a client of another /48 is not.
func TestIPv6ClientsAreCountedBy48(t *testing.T) {
	for _, st := range edgeStores {
		t.Run(st.name, func(t *testing.T) {
			env := startAbuseGateways(t, abuseConfig{store: st.store(t), options: crowdLimits,
				global: "servers {\n\t\ttrusted_proxies static 127.0.0.0/8\n\t}"})
			proxy := env.from(t, 0, "127.0.0.22")
			start := func(client, phone string) *sessionclient.Response {
				t.Helper()
				resp, err := proxy.Do(sessionclient.Request{Method: "POST", Path: "/v1/session/login/otp",
					Header: http.Header{"X-Forwarded-For": {client}},
					Body:   map[string]any{"identifier": map[string]string{"type": "phone_number", "value": phone}}})
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			for i := 0; i < 20; i++ {
				if resp := start(fmt.Sprintf("2001:db8:1:%x::1", i), fmt.Sprintf("+88217%06d", i)); resp.Status != 204 {
					t.Fatalf("a start from /64 number %d of the /48: %v", i, resp)
				}
			}
			if resp := start("2001:db8:1:ffff::7", "+882179999999"); resp.Status != 429 || resp.Code() != "rate_limited" {
				t.Fatalf("a 21st unproven code, from another /64 of the same /48: %v", resp)
			}
			if resp := start("2001:db8:2::1", "+882179999999"); resp.Status != 204 {
				t.Fatalf("a start from another /48: %v", resp)
			}
			if n := env.codes.count(); n != 21 {
				t.Fatalf("%d codes sent, want 21", n)
			}
		})
	}
}
