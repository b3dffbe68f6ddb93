// Command soak runs complete step-up flows (OTP login, step-up request, SMS
// code, redemption, one protected call and its refused replay) at a steady
// rate on two gateways sharing one Redis, for a long time, and reports per
// interval: flows done and failed, flow latency percentiles, each
// gateway's RSS and goroutines, Redis's keys and memory. At the end it
// checks that every key in Redis has a TTL. bench/soak.sh builds and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/caddy-stepup/internal/flowdriver"
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
