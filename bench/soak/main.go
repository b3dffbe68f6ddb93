// Command soak runs complete step-up flows (OTP login, step-up request, SMS
// code, redemption, one protected call and its refused replay) at a steady
// rate on two gateways sharing one Redis, for a long time, and reports per
// interval: flows done and failed, flow latency percentiles, each
// gateway's RSS and goroutines, Redis's keys and memory. At the end it
// checks that every key in Redis has a TTL. bench/soak.sh builds and runs it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/caddy-stepup/internal/flowdriver"
	"github.com/caddy-stepup/caddy-stepup/jwks"
)

func main() {
	caddyBin := flag.String("caddy", "", "the caddy binary with the module")
	duration := flag.Duration("duration", 30*time.Minute, "how long flows are started")
	interval := flag.Duration("interval", time.Minute, "reporting interval")
	rate := flag.Float64("rate", 5, "flows started per second")
	users := flag.Int("users", 1000, "distinct phone numbers (users) the flows cycle through; each user starts at most maxOpenChallenges (10) step-ups per 10 minutes, so keep rate×600/users under 10")
	out := flag.String("out", "", "directory for the report and logs")
	flag.Parse()
	if *caddyBin == "" || *out == "" {
		log.Fatal("soak: -caddy and -out are required")
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	s := &soak{dir: dir}
	// Interrupted, it stops its servers before it goes.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		s.stop()
		os.Exit(1)
	}()
	err = s.start(*caddyBin)
	var report string
	if err == nil {
		report, err = s.run(*duration, *interval, *rate, *users)
	}
	s.stop() // before any exit: the servers are ours to stop
	if err != nil {
		log.Fatalf("soak: %v", err)
	}
	command := strings.Join(os.Args, " ")
	text := fmt.Sprintf("Command: `%s`\n\n%s", command, report)
	fmt.Print(text)
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
}

type soak struct {
	stopOnce sync.Once
	dir      string
	procs    []*exec.Cmd
	redis    *redis.Client
	redisPID int
	gateways []gateway
	codes    sync.Map // phone → delivery
	apiCalls sync.Map // path → *atomic.Int64
}

type gateway struct {
	base      string
	adminPort int
	cmd       *exec.Cmd
}

type delivery struct {
	code string
	sent int
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start launches redis-server, the OTP webhook, the upstream and two
// gateways.
func (s *soak) start(caddyBin string) error {
	redisPort, err := freePort()
	if err != nil {
		return err
	}
	rcmd := exec.Command("redis-server", "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--maxmemory-policy", "noeviction", "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := rcmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %v", err)
	}
	s.procs = append(s.procs, rcmd)
	s.redisPID = rcmd.Process.Pid
	s.redis = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort)})
	for deadline := time.Now().Add(10 * time.Second); s.redis.Ping(context.Background()).Err() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer")
		}
	}

	webhook, err := s.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ To, Code string }
		if json.NewDecoder(r.Body).Decode(&m) != nil || m.To == "" {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		sent := 1
		if prev, ok := s.codes.Load(m.To); ok {
			sent = prev.(delivery).sent + 1
		}
		s.codes.Store(m.To, delivery{code: m.Code, sent: sent})
		w.WriteHeader(http.StatusNoContent)
	}))
	if err != nil {
		return err
	}
	upstream, err := s.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := s.apiCalls.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		_, _ = io.WriteString(w, `{"legacy":"ok"}`)
	}))
	if err != nil {
		return err
	}

	signer, err := jwks.GenerateSigner()
	if err != nil {
		return err
	}
	pem, err := signer.PEM()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(s.dir, "signing_key.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		admin, err := freePort()
		if err != nil {
			return err
		}
		g := gateway{base: fmt.Sprintf("http://127.0.0.1:%d", port), adminPort: admin}
		conf := fmt.Sprintf(caddyfile, admin, g.base, keyFile, redisPort, webhook, upstream)
		dir := filepath.Join(s.dir, fmt.Sprintf("gateway%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return err
		}
		logFile, err := os.Create(filepath.Join(dir, "caddy.log"))
		if err != nil {
			return err
		}
		g.cmd = exec.Command(caddyBin, "run", "--config", path, "--adapter", "caddyfile")
		g.cmd.Dir = dir
		g.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
		g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
		if err := g.cmd.Start(); err != nil {
			return err
		}
		s.procs = append(s.procs, g.cmd)
		s.gateways = append(s.gateways, g)
		if err := waitFor(g.base + "/.well-known/jwks.json"); err != nil {
			return fmt.Errorf("gateway %d: %v", i, err)
		}
	}
	return nil
}

// caddyfile is one gateway: the session API and a single-use protected
// route, limits raised for one client address making every flow, and
// sessions that end after ten minutes so that the store reaches a steady
// size within the run.
const caddyfile = `{
	admin 127.0.0.1:%[1]d
	auto_https off
	stepup {
		issuer http://gateway.soak
		external_url %[2]s
		signing_key %[3]s
		refresh_token_ttl 10m
		store redis redis://127.0.0.1:%[4]d/0
		login otp phone_number
		otp {
			sender webhook %[5]s/send
			max_per_hour 100000
		}
		limits {
			client_unproven_sends 1000000 1h
			client_destination_sends 1000000 1h
			client_unfinished_logins 1000000 1m
			client_login_starts 1000000 1m
			client_sends 1000000 1h
			login_starts 1000000 1m
			sends 1000000 1m
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

%[2]s {
	stepup_session
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[6]s
	}
	respond 404
}
`

func (s *soak) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = http.Serve(ln, h) }()
	return "http://" + ln.Addr().String(), nil
}

func waitFor(url string) error {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

func (s *soak) stop() {
	s.stopOnce.Do(s.stopAll)
}

func (s *soak) stopAll() {
	for _, p := range s.procs {
		if p.Process != nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range s.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
		}
	}
}

// sample is one interval's numbers.
type sample struct {
	at                  time.Duration
	done, failed        int
	p50, p95, p99, max  time.Duration
	rss                 []int64 // KiB per gateway
	goroutines          []int
	redisKeys, redisMem int64
	redisRSS            int64
}

func (s *soak) run(duration, interval time.Duration, rate float64, users int) (string, error) {
	cfg := flowdriver.Config{
		Gateways: []string{s.gateways[0].base, s.gateways[1].base}, Scope: "transfer:write", APIPath: "/api/transfers",
		Code: func(phone string) (string, int) {
			if d, ok := s.codes.Load(phone); ok {
				return d.(delivery).code, d.(delivery).sent
			}
			return "", 0
		},
		HTTP:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		Deadline: time.Minute,
	}
	var (
		mu       sync.Mutex
		results  []flowdriver.Result
		inFlight sync.WaitGroup
		busy     sync.Map // phone → in a flow (one flow per user at a time)
		skipped  atomic.Int64
	)
	began := time.Now()
	var samples []sample
	var failures []string
	collect := func(at time.Duration) {
		mu.Lock()
		batch := results
		results = nil
		mu.Unlock()
		smp := sample{at: at}
		var lat []time.Duration
		for _, r := range batch {
			if r.Completed && s.calls(r.ID) == 1 {
				smp.done++
				lat = append(lat, r.End.Sub(r.Start))
			} else {
				smp.failed++
				if len(failures) < 20 {
					failures = append(failures, fmt.Sprintf("%s: %s (API calls %d)", r.ID, r.Failure, s.calls(r.ID)))
				}
			}
		}
		smp.p50, smp.p95, smp.p99, smp.max = percentiles(lat)
		for _, g := range s.gateways {
			smp.rss = append(smp.rss, vmRSS(g.cmd.Process.Pid))
			smp.goroutines = append(smp.goroutines, goroutines(g.adminPort))
		}
		smp.redisKeys, _ = s.redis.DBSize(context.Background()).Result()
		smp.redisMem = redisUsedMemory(s.redis)
		smp.redisRSS = vmRSS(s.redisPID)
		samples = append(samples, smp)
		fmt.Fprintf(os.Stderr, "%s\n", row(smp))
	}

	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	report := time.NewTicker(interval)
	end := time.After(duration)
	n := 0
loop:
	for {
		select {
		case <-tick.C:
			n++
			phone := fmt.Sprintf("+1555%07d", n%users)
			if _, taken := busy.LoadOrStore(phone, true); taken {
				skipped.Add(1)
				continue
			}
			inFlight.Add(1)
			go func() {
				defer inFlight.Done()
				res := flowdriver.Run(cfg, phone)
				busy.Delete(phone)
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			}()
		case <-report.C:
			collect(time.Since(began))
		case <-end:
			break loop
		}
	}
	tick.Stop()
	report.Stop()
	inFlight.Wait()
	collect(time.Since(began))

	noTTL, maxTTL, kinds, err := s.keyTTLs()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Rate %.1f flows/s over %d users for %v, two gateways, one redis-server; %d starts skipped (that user's previous flow still running).\n\n",
		rate, users, duration, skipped.Load())
	b.WriteString("| at | flows done | failed | flow p50 ms | p95 ms | p99 ms | max ms | RSS gw1 MiB | RSS gw2 MiB | goroutines gw1 | gw2 | Redis keys | Redis used MiB | Redis RSS MiB |\n")
	b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	total, failed := 0, 0
	for _, smp := range samples {
		b.WriteString(row(smp) + "\n")
		total += smp.done
		failed += smp.failed
	}
	fmt.Fprintf(&b, "\n%d flows completed, %d failed. Keys without a TTL at the end: %d; the longest TTL left: %v.\n", total, failed, noTTL, maxTTL.Round(time.Second))
	b.WriteString("\nKeys at the end by kind (IDs replaced by X), with the longest TTL left: a kind created per flow levels off at the flow rate times its TTL.\n\n| kind | keys | longest TTL |\n| --- | ---: | ---: |\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "| `%s` | %d | %v |\n", k.name, k.count, k.longest.Round(time.Second))
	}
	if len(failures) > 0 {
		b.WriteString("\nFirst failures:\n")
		for _, f := range failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String(), nil
}

func (s *soak) calls(flowID string) int64 {
	if n, ok := s.apiCalls.Load("/api/transfers/" + flowID); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func row(s sample) string {
	mib := func(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("| %v | %d | %d | %s | %s | %s | %s | %s | %s | %d | %d | %d | %.1f | %s |",
		s.at.Round(time.Second), s.done, s.failed, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max),
		mib(s.rss[0]), mib(s.rss[1]), s.goroutines[0], s.goroutines[1], s.redisKeys, float64(s.redisMem)/(1<<20), mib(s.redisRSS))
}

func percentiles(d []time.Duration) (p50, p95, p99, maxD time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return at(0.50), at(0.95), at(0.99), d[len(d)-1]
}

// vmRSS reads a process's resident set size in KiB.
func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return -1
}

// goroutines reads go_goroutines from the gateway's admin /metrics.
func goroutines(adminPort int) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(rest, 64)
			return int(n)
		}
	}
	return -1
}

func redisUsedMemory(c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(rest, 10, 64)
			return n
		}
	}
	return -1
}

// keyKind is the keys of one shape: how many, and the longest TTL.
type keyKind struct {
	name    string
	count   int
	longest time.Duration
}

// idPart matches what varies between keys of one kind: hash tags, long
// IDs and numbers.
var idPart = regexp.MustCompile(`\{[^}]*\}|[A-Za-z0-9_-]{20,}|[0-9]+`)

// keyTTLs scans every key: how many have no TTL, the longest TTL, and the
// keys by kind, most numerous first.
func (s *soak) keyTTLs() (noTTL int, longest time.Duration, kinds []keyKind, err error) {
	ctx := context.Background()
	byKind := map[string]*keyKind{}
	iter := s.redis.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		ttl, err := s.redis.PTTL(ctx, iter.Val()).Result()
		if err != nil {
			return 0, 0, nil, err
		}
		if ttl == -1 { // go-redis: -1 no expiry, -2 gone meanwhile
			noTTL++
		}
		longest = max(longest, ttl)
		name := idPart.ReplaceAllString(iter.Val(), "X")
		k := byKind[name]
		if k == nil {
			k = &keyKind{name: name}
			byKind[name] = k
		}
		k.count++
		k.longest = max(k.longest, ttl)
	}
	for _, k := range byKind {
		kinds = append(kinds, *k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].count > kinds[j].count })
	return noTTL, longest, kinds, iter.Err()
}
