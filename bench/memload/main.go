// Command memload checks that the gateway's memory stays bounded under
// many distinct tokens: it sends every token of a file of distinct valid
// tokens, then a flood of garbage tokens, to one gateway, and reads the
// gateway process's resident size from /proc before (idle, after a
// warm-up) and after. It writes the figures as JSON to -out.
//
// Garbage comes in three kinds, in turn: random base64url strings shaped
// like a JWT (refused while parsing), well-formed tokens with the trusted
// issuer, key ID and a random signature (refused at the signature check,
// the deepest path; a tenth of the garbage, since each costs a signature
// verification), and random bytes (refused as not a token68).
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
)

func main() {
	url := flag.String("url", "", "gateway URL of a `stepup` route (required)")
	pid := flag.Int("pid", 0, "gateway process ID (required)")
	distinctFile := flag.String("distinct", "", "file of distinct valid tokens, one a line (required)")
	templateFile := flag.String("template", "", "file holding one valid token, for warm-up and forged tokens (required)")
	garbage := flag.Int("garbage", 1_000_000, "how many garbage tokens to send")
	conns := flag.Int("c", 32, "concurrent connections")
	settle := flag.Duration("settle", 5*time.Second, "wait before the settled reading")
	out := flag.String("out", "", "JSON result file (required)")
	flag.Parse()
	if *url == "" || *pid == 0 || *distinctFile == "" || *templateFile == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}

	distinct := readLines(*distinctFile)
	template := strings.TrimSpace(string(mustRead(*templateFile)))
	gen := newGarbage(template)
	client := newClient(*conns)
	res := benchkit.MemResult{ValidTokens: len(distinct), GarbageTokens: *garbage, GarbageByKind: map[string]int{}}

	// Warm-up: connections, buffers and pools the steady state needs, so
	// that the idle size is the size of a gateway that has served traffic.
	send(client, *url, *conns, 20_000, func(i int) string {
		if i%2 == 0 {
			return template
		}
		_, tok := gen.token(i)
		return tok
	})
	time.Sleep(2 * time.Second)
	res.IdleRSSKiB, _ = readStatus(*pid)

	start := time.Now()
	res.ValidStatuses = send(client, *url, *conns, len(distinct), func(i int) string { return distinct[i] })
	res.ValidSeconds = time.Since(start).Seconds()

	for i := 0; i < *garbage; i++ {
		kind, _ := gen.kindOf(i)
		res.GarbageByKind[kind]++
	}
	start = time.Now()
	res.GarbageStatus = send(client, *url, *conns, *garbage, func(i int) string {
		_, tok := gen.token(i)
		return tok
	})
	res.GarbageSeconds = time.Since(start).Seconds()

	res.AfterRSSKiB, _ = readStatus(*pid)
	time.Sleep(*settle)
	res.SettledRSSKiB, res.PeakRSSKiB = readStatus(*pid)

	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		log.Fatalf("memload: %v", err)
	}
	fmt.Printf("memload: idle %d KiB, after %d KiB, settled %d KiB, peak %d KiB\n",
		res.IdleRSSKiB, res.AfterRSSKiB, res.SettledRSSKiB, res.PeakRSSKiB)
}

func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			DisableCompression:  true,
		},
	}
}

// send makes n requests with `Authorization: Bearer <token(i)>` on conns
// workers and counts the response statuses.
func send(client *http.Client, url string, conns, n int, token func(int) string) map[string]int {
	next := make(chan int, 1024)
	counts := make(chan map[string]int, conns)
	for w := 0; w < conns; w++ {
		go func() {
			seen := map[string]int{}
			for i := range next {
				seen[do(client, url, token(i))]++
			}
			counts <- seen
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	total := map[string]int{}
	for w := 0; w < conns; w++ {
		for k, v := range <-counts {
			total[k] += v
		}
	}
	return total
}

// do sends one request and returns its status code, or "error".
func do(client *http.Client, url, token string) string {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		log.Fatalf("memload: %v", err)
	}
	req.Header["Authorization"] = []string{"Bearer " + token}
	resp, err := client.Do(req)
	if err != nil {
		return "error"
	}
	drain(resp)
	return fmt.Sprint(resp.StatusCode)
}

func drain(resp *http.Response) {
	buf := make([]byte, 4096)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
}

// readStatus returns VmRSS and VmHWM (peak resident size) of pid, in KiB.
func readStatus(pid int) (rss, hwm int64) {
	b := mustRead(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		var v int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &v); err == nil {
			rss = v
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &v); err == nil {
			hwm = v
		}
	}
	if rss == 0 {
		log.Fatalf("memload: no VmRSS for process %d", pid)
	}
	return rss, hwm
}

func readLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		log.Fatalf("memload: %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		log.Fatalf("memload: %v", err)
	}
	return lines
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("memload: %v", err)
	}
	return b
}

// garbage makes invalid tokens of the three kinds.
type garbage struct {
	header string // header segment of a valid token: real alg, kid, typ
	iss    string
}

func newGarbage(template string) *garbage {
	parts := strings.Split(template, ".")
	if len(parts) != 3 {
		log.Fatal("memload: the template is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		log.Fatalf("memload: template payload: %v", err)
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		log.Fatalf("memload: template claims: %v", err)
	}
	return &garbage{header: parts[0], iss: claims.Iss}
}

// kindOf says which kind of garbage token i is: one in ten forged, the
// rest split between JWT-shaped and random bytes.
func (g *garbage) kindOf(i int) (string, int) {
	switch {
	case i%10 == 0:
		return "forged-signature", 0
	case i%2 == 0:
		return "jwt-shaped", 1
	default:
		return "random-bytes", 2
	}
}

func (g *garbage) token(i int) (string, string) {
	kind, k := g.kindOf(i)
	enc := base64.RawURLEncoding
	switch k {
	case 0:
		claims, _ := json.Marshal(map[string]any{
			"iss": g.iss, "sub": "forged-" + enc.EncodeToString(randomBytes(9)),
			"exp": time.Now().Add(time.Hour).Unix(), "jti": enc.EncodeToString(randomBytes(12)),
			"scope": "payments:write",
		})
		return kind, g.header + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(randomBytes(64))
	case 1:
		return kind, enc.EncodeToString(randomBytes(20+i%40)) + "." +
			enc.EncodeToString(randomBytes(50+i%250)) + "." + enc.EncodeToString(randomBytes(64))
	default:
		// Bytes a header value may carry (no control characters), most of
		// them outside token68.
		b := randomBytes(16 + i%500)
		for j := range b {
			if b[j] < 0x21 || b[j] == 0x7f {
				b[j] = '~' + 2 + b[j]%0x21
			}
		}
		return kind, string(b)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
