// Command proofs writes DPoP proofs for the benchmark's DPoP case: -n
// proofs, one a line, each with its own jti and iat now, for one method and
// URL, bound (ath) to the token in -token and signed with the key in -key
// (written by bench/tokens). Proofs are single use and live 60 s, so
// run.sh makes a fresh file right before each load window; wrk sends each
// line once (bench/dpop.lua).
package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"log"
	"os"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

func main() {
	keyFile := flag.String("key", "", "PKCS#8 PEM of the DPoP key (required)")
	tokenFile := flag.String("token", "", "file holding the DPoP-bound access token (required)")
	method := flag.String("method", "GET", "htm")
	url := flag.String("url", "", "htu: the URL wrk calls (required)")
	n := flag.Int("n", 100000, "how many proofs")
	out := flag.String("out", "", "output file (required)")
	flag.Parse()
	if *keyFile == "" || *tokenFile == "" || *url == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	key := readKey(*keyFile)
	raw, err := os.ReadFile(*tokenFile)
	if err != nil {
		log.Fatalf("proofs: %v", err)
	}
	token := strings.TrimSpace(string(raw))

	err = benchkit.MakeLines(*out, *n, func(int) string {
		return sessionclient.ResourceProof(key, *method, *url, token, nil)
	})
	if err != nil {
		log.Fatalf("proofs: %v", err)
	}
}

func readKey(path string) *ecdsa.PrivateKey {
	raw, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("proofs: %v", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		log.Fatalf("proofs: %s holds no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		log.Fatalf("proofs: %v", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		log.Fatalf("proofs: %s is not an ECDSA key", path)
	}
	return ec
}
