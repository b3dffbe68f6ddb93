// Command upstream is the benchmark's backend: it answers every request
// with 200 and a small fixed body, and serves a JWKS file at
// /.well-known/jwks.json so the gateways under test can fetch their keys
// from it. It is kept tiny so that its cost is the same, and small, for
// every case.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	jwksFile := flag.String("jwks", "", "JWKS file served at /.well-known/jwks.json")
	flag.Parse()

	var jwksBody []byte
	if *jwksFile != "" {
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			log.Fatalf("upstream: reading JWKS: %v", err)
		}
		jwksBody = b
	}
	body := []byte(`{"ok":true}` + "\n")

	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		if jwksBody == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwksBody)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("upstream: %v", err)
	}
	// The chosen address on stdout tells run.sh which port to use.
	os.Stdout.WriteString(ln.Addr().String() + "\n")
	log.Fatal(http.Serve(ln, mux))
}
