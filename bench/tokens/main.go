// Command tokens makes the benchmark's key material and access tokens: a
// fresh ES256 key (kept in memory only), its public JWKS, and tokens signed
// with it. It writes, into -out:
//
//	jwks.json         the public key set the gateways trust
//	valid.txt         one token with the scope the route requires, and an acr
//	                  (urn:bench:loa2) and auth_time (now) for case (f)
//	noscope.txt       one token without it (the step-up challenge path)
//	lowacr.txt        one token with the scope and another acr (urn:bench:loa1)
//	session.txt       as valid.txt, with a sid (bench-session)
//	narrow.txt        with -narrow-scope, one token with that scope instead
//	                  of -scope (run-mcp.sh: a tool's scope missing)
//	distinct.txt      -distinct tokens, each different (memory test)
//	bound.txt         one token with the scope, bound (cnf.jkt) to the key in
//	dpop-key.pem      a DPoP key of the client (PKCS#8), for bench/proofs
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// accessClaims are the RFC 9068 claims of a benchmark token.
type accessClaims struct {
	Iss   string            `json:"iss"`
	Sub   string            `json:"sub"`
	Aud   string            `json:"aud"`
	Exp   int64             `json:"exp"`
	Iat   int64             `json:"iat"`
	Jti   string            `json:"jti"`
	Sid   string            `json:"sid,omitempty"`
	Scope string            `json:"scope"`
	Cnf   map[string]string `json:"cnf,omitempty"` // RFC 9449 §6.1
	// The authentication event (RFC 9470), which the (f) route checks.
	ACR      string `json:"acr"`
	AuthTime int64  `json:"auth_time"`
}

// benchACR is the acr of every token, the one case (f)'s route requires.
const benchACR = "urn:bench:loa2"

func main() {
	out := flag.String("out", "", "output directory (required)")
	issuer := flag.String("issuer", "https://idp.bench", "iss of the tokens")
	scope := flag.String("scope", "payments:write", "scope the route requires")
	ttl := flag.Duration("ttl", 2*time.Hour, "token lifetime")
	distinct := flag.Int("distinct", 0, "how many distinct valid tokens to write to distinct.txt")
	narrow := flag.String("narrow-scope", "", "also write narrow.txt, a valid token with this scope instead of -scope")
	flag.Parse()
	if *out == "" {
		log.Fatal("tokens: -out is required")
	}

	signer, err := jwks.GenerateSigner()
	if err != nil {
		log.Fatalf("tokens: %v", err)
	}
	now := time.Now()
	mintWith := func(sub, scope, acr string, cnf map[string]string) string {
		tok, err := signer.Sign("at+jwt", accessClaims{
			Iss: *issuer, Sub: sub, Aud: "payments-api",
			Exp: now.Add(*ttl).Unix(), Iat: now.Unix(), Jti: randomID(), Scope: scope, Cnf: cnf,
			ACR: acr, AuthTime: now.Unix(),
		})
		if err != nil {
			log.Fatalf("tokens: %v", err)
		}
		return tok
	}
	mint := func(sub, scope string) string { return mintWith(sub, scope, benchACR, nil) }
	// session.txt: the valid token with a sid too, so that a revocation
	// list is searched by session, subject and token ID (run-revocation.sh).
	withSid, err := signer.Sign("at+jwt", accessClaims{Iss: *issuer, Sub: "bench-user", Aud: "payments-api",
		Exp: now.Add(*ttl).Unix(), Iat: now.Unix(), Jti: randomID(), Sid: "bench-session", Scope: "openid payments:read " + *scope,
		ACR: benchACR, AuthTime: now.Unix()})
	if err != nil {
		log.Fatalf("tokens: %v", err)
	}
	write(filepath.Join(*out, "session.txt"), []byte(withSid))

	dpopKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatalf("tokens: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(dpopKey)
	if err != nil {
		log.Fatalf("tokens: %v", err)
	}
	write(filepath.Join(*out, "dpop-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	write(filepath.Join(*out, "bound.txt"), []byte(mintWith("bench-user", "openid payments:read "+*scope, benchACR,
		map[string]string{"jkt": sessionclient.JKT(dpopKey)})))

	write(filepath.Join(*out, "jwks.json"), signer.PublicJWKS())
	write(filepath.Join(*out, "valid.txt"), []byte(mint("bench-user", "openid payments:read "+*scope)))
	write(filepath.Join(*out, "noscope.txt"), []byte(mint("bench-user", "openid payments:read")))
	if *narrow != "" {
		write(filepath.Join(*out, "narrow.txt"), []byte(mint("bench-user", "openid payments:read "+*narrow)))
	}
	write(filepath.Join(*out, "lowacr.txt"), []byte(mintWith("bench-user", "openid payments:read "+*scope, "urn:bench:loa1", nil)))
	if *distinct > 0 {
		err := benchkit.MakeLines(filepath.Join(*out, "distinct.txt"), *distinct, func(int) string {
			return mint("user-"+randomID(), "openid payments:read "+*scope)
		})
		if err != nil {
			log.Fatalf("tokens: %v", err)
		}
	}
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func write(path string, b []byte) {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		log.Fatalf("tokens: %v", err)
	}
}
