// Command burst measures what a burst of password logins does to the
// requests a gateway verifies: a probe sends one request at a time (2 ms
// apart), with a valid token, to a `stepup` route, first on a quiet
// gateway, then while -logins password logins (one argon2id verification
// each) arrive at once. Each -gateway is measured in turn, -rounds times,
// the order rotated each round; users are signed up first on each (sign-up,
// finalize, the code from the OTP webhook, /login/otp/check). It prints a
// Markdown section for run-burst.sh's report.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// gatewayFlag is a repeated -gateway name=origin.
type gatewayFlag []gateway

type gateway struct{ name, origin string }

func (g *gatewayFlag) String() string { return fmt.Sprint(*g) }
func (g *gatewayFlag) Set(v string) error {
	name, origin, ok := strings.Cut(v, "=")
	if !ok || name == "" || origin == "" {
		return fmt.Errorf("want name=origin, got %q", v)
	}
	*g = append(*g, gateway{name, origin})
	return nil
}

type config struct {
	gateways                 gatewayFlag
	inbox, tokenFile, route  string
	logins, rounds, signUpsC int
	quiet, gap               time.Duration
}

func main() {
	var cfg config
	flag.Var(&cfg.gateways, "gateway", "name=origin of a gateway to measure (repeat)")
	flag.StringVar(&cfg.inbox, "inbox", "", "listen address of the OTP webhook the gateways send codes to (/send)")
	flag.StringVar(&cfg.tokenFile, "token", "", "file holding a valid access token for -route")
	flag.StringVar(&cfg.route, "route", "/pay", "path of the gateways' token-verifying route")
	flag.IntVar(&cfg.logins, "logins", 200, "password logins sent at once")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds (each measures every gateway once)")
	flag.IntVar(&cfg.signUpsC, "signup-c", 4, "sign-ups in flight")
	flag.DurationVar(&cfg.quiet, "quiet", 3*time.Second, "how long the quiet gateway is probed")
	flag.DurationVar(&cfg.gap, "gap", 2*time.Second, "pause between measurements")
	flag.Parse()
	if len(cfg.gateways) == 0 || cfg.inbox == "" || cfg.tokenFile == "" {
		log.Fatal("burst: -gateway, -inbox and -token are required")
	}
	if err := run(cfg); err != nil {
		log.Fatalf("burst: %v", err)
	}
}

func email(g string, i int) string { return fmt.Sprintf("burst-%s-%d@example.com", g, i) }
func passwordOf(i int) string      { return fmt.Sprintf("burst password %d", i) }
func ms(d time.Duration) string    { return benchkit.MS(d) }
func newClient(origin string, h *http.Client) *sessionclient.Client {
	c := sessionclient.New(origin)
	c.HTTP = h
	return c
}

// measurement is one gateway in one round.
type measurement struct {
	quiet, burst benchkit.Summary
	logins       map[int]int // status → count
	loginsTook   time.Duration
	loginP50     time.Duration
}

func run(cfg config) error {
	token, err := os.ReadFile(cfg.tokenFile)
	if err != nil {
		return err
	}
	in, err := benchkit.ServeInbox(cfg.inbox, nil)
	if err != nil {
		return err
	}
	// Each login comes from its own loopback address, as users' logins
	// would (one address's concurrent attempts count as its failures until
	// one succeeds), over connections of its own: the probe's connection
	// never waits behind them in a pool.
	loginHTTP := make([]*http.Client, cfg.logins)
	for i := range loginHTTP {
		ip := net.IPv4(127, 1, byte(i/250), byte(i%250+1))
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
		loginHTTP[i] = &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: dialer.DialContext}}
	}
	for _, g := range cfg.gateways {
		if err := benchkit.WaitFor(g.origin + "/.well-known/jwks.json"); err != nil {
			return err
		}
		var mu sync.Mutex
		var first error
		benchkit.Parallel(cfg.logins, cfg.signUpsC, func(i int) {
			if err := signUp(newClient(g.origin, loginHTTP[i]), in, email(g.name, i), passwordOf(i)); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s: sign-up %d: %v", g.name, i, err)
				}
				mu.Unlock()
			}
		})
		if first != nil {
			return first
		}
	}

	results := map[string][]measurement{}
	for r := 0; r < cfg.rounds; r++ {
		for k := range cfg.gateways {
			g := cfg.gateways[(k+r)%len(cfg.gateways)]
			time.Sleep(cfg.gap)
			m, err := measure(cfg, g, strings.TrimSpace(string(token)), loginHTTP)
			if err != nil {
				return fmt.Errorf("%s, round %d: %v", g.name, r+1, err)
			}
			results[g.name] = append(results[g.name], m)
			fmt.Fprintf(os.Stderr, "round %d %s: quiet p50 %s ms, during the burst p50 %s p99 %s max %s ms, logins %v in %s\n",
				r+1, g.name, ms(m.quiet.P50), ms(m.burst.P50), ms(m.burst.P99), ms(m.burst.Max), m.logins, m.loginsTook.Round(time.Millisecond))
		}
	}
	report(cfg, results)
	return nil
}

// signUp signs a user up and proves the address, as the SDK does.
func signUp(c *sessionclient.Client, in *benchkit.Inbox, addr, pw string) error {
	resp, err := c.SignUp(addr, pw)
	if err != nil || resp.Status != http.StatusOK {
		return fmt.Errorf("sign-up: %v %v", resp, err)
	}
	resp, err = c.Finalize(resp.String("challenge_token"), "")
	if err != nil || resp.Status != http.StatusOK {
		return fmt.Errorf("finalize: %v %v", resp, err)
	}
	resp, err = c.CheckLogin(in.Code(addr))
	if err != nil || resp.Status != http.StatusOK {
		return fmt.Errorf("check: %v %v", resp, err)
	}
	return nil
}

// measure probes g quiet, then during a burst of logins.
func measure(cfg config, g gateway, token string, loginHTTP []*http.Client) (measurement, error) {
	var m measurement
	quiet, err := probe(g.origin+cfg.route, token, func(stop chan<- struct{}) { time.Sleep(cfg.quiet); close(stop) })
	if err != nil {
		return m, err
	}
	m.quiet = quiet.Summary("probe")
	m.logins = map[int]int{}
	logins := benchkit.NewRecorder()
	var mu sync.Mutex
	var loginErr error
	burst, err := probe(g.origin+cfg.route, token, func(stop chan<- struct{}) {
		time.Sleep(200 * time.Millisecond) // the probe runs before the burst begins
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < cfg.logins; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := newClient(g.origin, loginHTTP[i])
				<-start
				t0 := time.Now()
				resp, err := c.PasswordLogin(email(g.name, i), passwordOf(i))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					loginErr = err
					return
				}
				m.logins[resp.Status]++
				if resp.Status == http.StatusOK {
					logins.Add("login", time.Since(t0))
				}
			}()
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		m.loginsTook = time.Since(t0)
		close(stop)
	})
	if err != nil {
		return m, err
	}
	if loginErr != nil {
		return m, loginErr
	}
	for status, n := range m.logins {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			return m, fmt.Errorf("%d logins answered %d", n, status)
		}
	}
	m.burst = burst.Summary("probe")
	m.loginP50 = logins.Summary("login").P50
	return m, nil
}

// probe sends GET url with the token, one at a time 2 ms apart, until
// the channel run closes; every answer must be 200.
func probe(url, token string, run func(stop chan<- struct{})) (*benchkit.Recorder, error) {
	rec := benchkit.NewRecorder()
	client := &http.Client{Timeout: 30 * time.Second}
	stop := make(chan struct{})
	go run(stop)
	for {
		select {
		case <-stop:
			client.CloseIdleConnections()
			return rec, nil
		default:
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("the probe got %d", resp.StatusCode)
		}
		rec.Add("probe", time.Since(t0))
		time.Sleep(2 * time.Millisecond)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func report(cfg config, results map[string][]measurement) {
	w := os.Stdout
	fmt.Fprintf(w, "%d password logins sent at once, %d rounds; a probe sends one request at a time (2 ms apart) with a valid token to a `stepup` route of the same gateway. Medians over rounds.\n\n", cfg.logins, cfg.rounds)
	fmt.Fprintln(w, "| gateway | quiet p50 | quiet p99 | during the burst p50 | p90 | p99 | max | probes during the burst | logins 200 / 503, all rounds | burst lasted | login p50 (200) |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, g := range cfg.gateways {
		rounds := results[g.name]
		pick := func(f func(m measurement) time.Duration) string {
			return benchkit.MS(median(durations(rounds, f)))
		}
		ok, busy, probes := 0, 0, 0
		for _, m := range rounds {
			ok += m.logins[http.StatusOK]
			busy += m.logins[http.StatusServiceUnavailable]
			probes += m.burst.N
		}
		fmt.Fprintf(w, "| %s | %s | %s | **%s** | %s | **%s** | %s | %d | %d / %d | %s s | %s |\n", g.name,
			pick(func(m measurement) time.Duration { return m.quiet.P50 }),
			pick(func(m measurement) time.Duration { return m.quiet.P99 }),
			pick(func(m measurement) time.Duration { return m.burst.P50 }),
			pick(func(m measurement) time.Duration { return m.burst.P90 }),
			pick(func(m measurement) time.Duration { return m.burst.P99 }),
			pick(func(m measurement) time.Duration { return m.burst.Max }),
			probes/len(rounds), ok, busy,
			fmt.Sprintf("%.2f", median(durations(rounds, func(m measurement) time.Duration { return m.loginsTook })).Seconds()),
			pick(func(m measurement) time.Duration { return m.loginP50 }))
	}
	fmt.Fprintln(w, "\nTimes in ms but the burst's length; probes: per round; a login refused with 503 found every hash slot and its waiting room (32 per slot) taken.")
}

func durations(ms []measurement, f func(measurement) time.Duration) []time.Duration {
	var ds []time.Duration
	for _, m := range ms {
		ds = append(ds, f(m))
	}
	return ds
}
