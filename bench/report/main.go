// Command report turns the raw results of run.sh into the markdown tables
// of BENCHMARKS.md: per case, the median over rounds of requests/s,
// p50/p99 latency and gateway CPU µs per request, each also as a ratio to
// case (a) of the same round (median of the per-round ratios), the memory
// figures, and whether each goal is met.
//
// Input: -runs, a TSV file with one line per measured window:
//
//	round  position  case  cpu_ticks  clk_tck  wrk_output_file
//
// and -mem, the JSON written by memload. -cases names another script's
// cases (one `id<TAB>name` line each, (a) the baseline); its goals are its
// own, so none is printed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
)

// window is one measured load window of one case.
type window struct {
	round    int
	caseID   string
	requests float64
	rps      float64
	p50, p99 float64 // milliseconds
	cpuUS    float64 // gateway CPU µs per request
	non2xx   float64
	errors   float64
}

// caseNames describes the cases in the order they are reported.
var caseNames = []struct{ id, name string }{
	{"a", "plain `reverse_proxy` (caddy without the module)"},
	{"b", "`stepup`, valid ES256 token with the scope, cache on"},
	{"c", "`stepup`, same token, `token_cache off`"},
	{"d", "`stepup`, valid token lacking the scope (401 challenge)"},
	{"e", "`stepup`, DPoP-bound token (cached) + a fresh ES256 proof per request, memory store"},
	{"f", "`stepup` with `acr` and `max_age`, the token of (b) (its acr and auth_time pass)"},
	{"g", "as (b), on the `BASELINE` build (its own gateway)"},
}

func main() {
	runsFile := flag.String("runs", "", "runs TSV written by run.sh (required)")
	memFile := flag.String("mem", "", "memload JSON (optional)")
	casesFile := flag.String("cases", "", "TSV of id and name of each case, in report order, instead of run.sh's (optional)")
	flag.Parse()
	if *runsFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *casesFile != "" {
		caseNames = readCases(*casesFile)
	}
	windows := readRuns(*runsFile)
	byRound := map[int]map[string]window{}
	for _, w := range windows {
		if byRound[w.round] == nil {
			byRound[w.round] = map[string]window{}
		}
		byRound[w.round][w.caseID] = w
	}

	fmt.Println("| case | req/s | ×(a) | p50 ms | ×(a) | p99 ms | ×(a) | CPU µs/req | ×(a) | Δ CPU µs/req vs (a) | statuses |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	med := map[string]map[string]float64{}
	for _, c := range caseNames {
		var rps, p50, p99, cpu, rRps, rP50, rP99, rCPU, dCPU []float64
		var reqs, non2xx, errs float64
		for _, round := range byRound {
			w, ok := round[c.id]
			a, okA := round["a"]
			if !ok || !okA {
				continue
			}
			rps, p50, p99, cpu = append(rps, w.rps), append(p50, w.p50), append(p99, w.p99), append(cpu, w.cpuUS)
			rRps, rP50, rP99 = append(rRps, w.rps/a.rps), append(rP50, w.p50/a.p50), append(rP99, w.p99/a.p99)
			rCPU, dCPU = append(rCPU, w.cpuUS/a.cpuUS), append(dCPU, w.cpuUS-a.cpuUS)
			reqs, non2xx, errs = reqs+w.requests, non2xx+w.non2xx, errs+w.errors
		}
		if len(rps) == 0 {
			continue
		}
		m := map[string]float64{"rps": median(rps), "rRps": median(rRps), "cpu": median(cpu), "dCPU": median(dCPU), "rounds": float64(len(rps))}
		med[c.id] = m
		statuses := fmt.Sprintf("%.0f requests, %.0f non-2xx, %.0f socket errors", reqs, non2xx, errs)
		fmt.Printf("| (%s) %s | %.0f | %.3f | %.3f | %.2f | %.3f | %.2f | %.1f | %.2f | %+.1f | %s |\n",
			c.id, c.name, m["rps"], m["rRps"], median(p50), median(rP50), median(p99), median(rP99),
			m["cpu"], median(rCPU), m["dCPU"], statuses)
	}
	fmt.Println()
	fmt.Printf("Medians over %d rounds; ratios and differences are computed within each round against (a), then the median is taken.\n\n", len(byRound))

	fmt.Println("Per round (req/s · CPU µs/req), in the order run:")
	fmt.Println()
	rounds := make([]int, 0, len(byRound))
	for r := range byRound {
		rounds = append(rounds, r)
	}
	slices.Sort(rounds)
	for _, r := range rounds {
		var parts []string
		for _, w := range windowsOfRound(windows, r) {
			parts = append(parts, fmt.Sprintf("(%s) %.0f · %.1f", w.caseID, w.rps, w.cpuUS))
		}
		fmt.Printf("- round %d: %s\n", r, strings.Join(parts, ", "))
	}
	fmt.Println()

	var mem *benchkit.MemResult
	if *memFile != "" {
		mem = readMem(*memFile)
		printMem(mem)
	}
	if *casesFile == "" {
		printGoals(med, mem)
	}
}

// readCases reads `id<TAB>name` lines.
func readCases(path string) []struct{ id, name string } {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	var out []struct{ id, name string }
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		id, name, ok := strings.Cut(line, "\t")
		if !ok {
			log.Fatalf("report: %s: %q is not id<TAB>name", path, line)
		}
		out = append(out, struct{ id, name string }{id, name})
	}
	return out
}

func windowsOfRound(all []window, round int) []window {
	var out []window
	for _, w := range all {
		if w.round == round {
			out = append(out, w)
		}
	}
	return out
}

func printGoals(med map[string]map[string]float64, mem *benchkit.MemResult) {
	fmt.Println("| goal | measured | met |")
	fmt.Println("| --- | --- | --- |")
	if b, ok := med["b"]; ok {
		fmt.Printf("| (b) ≥ 0.95× the req/s of (a) | %.3f× | %s |\n", b["rRps"], benchkit.Yes(b["rRps"] >= 0.95))
		fmt.Printf("| (b) ≤ 10 µs more CPU per request than (a) | %+.1f µs | %s |\n", b["dCPU"], benchkit.Yes(b["dCPU"] <= 10))
	}
	if c, ok := med["c"]; ok {
		fmt.Printf("| (c) ≤ 130 µs more CPU per request than (a) | %+.1f µs | %s |\n", c["dCPU"], benchkit.Yes(c["dCPU"] <= 130))
	}
	b, okB := med["b"]
	c, okC := med["c"]
	if e, ok := med["e"]; ok && okB && okC {
		// (c) − (b) is what one signature verification (of the access token,
		// uncached) adds to (b): the budget of a proof check.
		fmt.Printf("| (e) costs at most one signature check more than (b): CPU (e) − (b) ≤ (c) − (b) | %+.1f µs vs %+.1f µs | %s |\n",
			e["dCPU"]-b["dCPU"], c["dCPU"]-b["dCPU"], benchkit.Yes(e["dCPU"] <= c["dCPU"]))
	}
	if f, ok := med["f"]; ok && okB {
		// The same token and gateway as (b): the acr and max_age checks
		// are all the difference.
		fmt.Printf("| (f) acr/max_age route costs what the scope route (b) does: CPU (f) − (b), req/s (f)/(b) | %+.1f µs, %.3f× | see the per-round spread |\n",
			f["dCPU"]-b["dCPU"], f["rRps"]/b["rRps"])
	}
	if mem != nil {
		grew := float64(mem.AfterRSSKiB-mem.IdleRSSKiB) / 1024
		fmt.Printf("| %d distinct valid + %d garbage tokens leave < 100 MiB above idle | %+.1f MiB right after (peak %+.1f MiB) | %s |\n",
			mem.ValidTokens, mem.GarbageTokens, grew, float64(mem.PeakRSSKiB-mem.IdleRSSKiB)/1024, benchkit.Yes(grew < 100))
	}
}

func readMem(path string) *benchkit.MemResult {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	var m benchkit.MemResult
	if err := json.Unmarshal(b, &m); err != nil {
		log.Fatalf("report: %s: %v", path, err)
	}
	return &m
}

func printMem(m *benchkit.MemResult) {
	mib := func(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
	fmt.Println("| memory (gateway VmRSS, cache on) | value |")
	fmt.Println("| --- | ---: |")
	fmt.Printf("| idle, after warm-up | %s |\n", mib(m.IdleRSSKiB))
	fmt.Printf("| right after %d distinct valid tokens (%.1f s; statuses %s) and %d garbage tokens (%.1f s; %s; statuses %s) | %s (%+.1f MiB) |\n",
		m.ValidTokens, m.ValidSeconds, statusList(m.ValidStatuses), m.GarbageTokens, m.GarbageSeconds,
		statusList(m.GarbageByKind), statusList(m.GarbageStatus), mib(m.AfterRSSKiB), float64(m.AfterRSSKiB-m.IdleRSSKiB)/1024)
	fmt.Printf("| a few seconds later | %s (%+.1f MiB) |\n", mib(m.SettledRSSKiB), float64(m.SettledRSSKiB-m.IdleRSSKiB)/1024)
	fmt.Printf("| peak (VmHWM, whole life of the process) | %s (%+.1f MiB) |\n", mib(m.PeakRSSKiB), float64(m.PeakRSSKiB-m.IdleRSSKiB)/1024)
	fmt.Println()
}

func statusList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func readRuns(path string) []window {
	f, err := os.Open(path)
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	defer f.Close()
	var out []window
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 6 {
			continue
		}
		round, _ := strconv.Atoi(fields[0])
		ticks, _ := strconv.ParseFloat(fields[3], 64)
		clk, _ := strconv.ParseFloat(fields[4], 64)
		w := parseWrk(fields[5])
		w.round, w.caseID = round, fields[2]
		if w.requests > 0 && clk > 0 {
			w.cpuUS = ticks / clk * 1e6 / w.requests
		}
		out = append(out, w)
	}
	if err := sc.Err(); err != nil {
		log.Fatalf("report: %v", err)
	}
	return out
}

var (
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reLatency  = regexp.MustCompile(`^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$`)
)

// parseWrk reads the figures of one `wrk --latency` output.
func parseWrk(path string) window {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	text := string(b)
	var w window
	if m := reRequests.FindStringSubmatch(text); m != nil {
		w.requests, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reRPS.FindStringSubmatch(text); m != nil {
		w.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reNon2xx.FindStringSubmatch(text); m != nil {
		w.non2xx, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reSocket.FindStringSubmatch(text); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseFloat(s, 64)
			w.errors += n
		}
	}
	for _, line := range strings.Split(text, "\n") {
		m := reLatency.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			w.p50 = v
		} else {
			w.p99 = v
		}
	}
	if w.requests == 0 || w.rps == 0 {
		log.Fatalf("report: %s: not a complete wrk output", path)
	}
	return w
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
