// Command revoke fills a gateway's revocation list through its admin API
// (POST /stepup/revocations), for bench/run-revocation.sh: -n revocations
// of -issuer's tokens, by session, subject and token ID in turn, with
// values no benchmark token has; then it checks that the gateway lists
// them all. With -token it instead revokes that token's jti (the token
// file's payload is read, not verified) and exits.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	admin := flag.String("admin", "", "the gateway's admin endpoint, http://127.0.0.1:PORT (required)")
	issuer := flag.String("issuer", "https://idp.bench", "the issuer whose tokens are revoked")
	n := flag.Int("n", 100000, "how many revocations")
	workers := flag.Int("workers", 16, "concurrent requests")
	token := flag.String("token", "", "a token file: revoke its jti only")
	flag.Parse()
	if *admin == "" {
		log.Fatal("revoke: -admin is required")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	if *token != "" {
		jti := jtiOf(*token)
		if err := post(client, *admin, map[string]string{"kind": "jti", "issuer": *issuer, "value": jti}); err != nil {
			log.Fatalf("revoke: %v", err)
		}
		return
	}

	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	kinds := []string{"sid", "sub", "jti"}
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				kind := kinds[i%len(kinds)]
				body := map[string]string{"kind": kind, "issuer": *issuer, "value": fmt.Sprintf("bench-%s-%d", kind, i)}
				if err := post(client, *admin, body); err != nil {
					if failed.Add(1) == 1 {
						log.Printf("revoke: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		log.Fatalf("revoke: %d of %d revocations failed", failed.Load(), *n)
	}
	total := listed(client, *admin, *issuer)
	if total < *n {
		log.Fatalf("revoke: the gateway lists %d revocations of %s, want at least %d", total, *issuer, *n)
	}
	fmt.Fprintf(os.Stderr, "revoke: %d revocations in %.1fs; the gateway lists %d\n", *n, time.Since(start).Seconds(), total)
}

// post sends one revocation and wants 201.
func post(client *http.Client, admin string, body map[string]string) error {
	b, _ := json.Marshal(body)
	resp, err := client.Post(admin+"/stepup/revocations", "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /stepup/revocations: %d %s", resp.StatusCode, out)
	}
	return nil
}

// listed is how many revocations of issuer the gateway lists.
func listed(client *http.Client, admin, issuer string) int {
	resp, err := client.Get(admin + "/stepup/revocations?limit=1&issuer=" + issuer)
	if err != nil {
		log.Fatalf("revoke: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Total int `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		log.Fatalf("revoke: the listing: %v", err)
	}
	return out.Total
}

// jtiOf reads the jti of the token in path.
func jtiOf(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("revoke: %v", err)
	}
	parts := strings.Split(strings.TrimSpace(string(raw)), ".")
	if len(parts) != 3 {
		log.Fatal("revoke: not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		log.Fatalf("revoke: %v", err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.JTI == "" {
		log.Fatal("revoke: the token has no jti")
	}
	return claims.JTI
}
