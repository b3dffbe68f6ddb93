package tests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// A real OpenID provider (oidc-provider, from npm) issuing DPoP-bound JWT
// access tokens, and a real OAuth client (oauth4webapi and dpop, from npm)
// that obtains one through the authorization-code flow with PKCE and DPoP
// and calls URLs with it: tests/oidc/provider.mjs and client.mjs, driven
// from here.

// requireOIDCHarness returns the absolute path of tests/oidc once node and
// its installed packages are there; otherwise it skips, or fails under
// STEPUP_REQUIRE_NODE.
func requireOIDCHarness(t *testing.T) string {
	t.Helper()
	return requireNodePackages(t, "oidc", "oidc-provider", "OpenID provider tests")
}

// oidcProvider is one running provider.mjs.
type oidcProvider struct {
	Issuer  string
	JWKSURI string
	dir     string
	stderr  *lockedBuffer
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startOIDCProvider runs provider.mjs on a free loopback port until the
// test ends, with env added to its environment (OIDC_GATEWAY_REDIRECT,
// OIDC_GATEWAY_SECRET: a confidential client for a gateway).
func startOIDCProvider(t *testing.T, env ...string) *oidcProvider {
	t.Helper()
	dir := requireOIDCHarness(t)
	stdout, stderr := new(lockedBuffer), new(lockedBuffer)
	cmd := exec.Command("node", "provider.mjs", fmt.Sprint(testcaddy.FreePort(t)))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stopByPID(cmd, exited) })

	deadline := time.After(30 * time.Second)
	for !strings.Contains(stdout.String(), "\n") {
		select {
		case <-exited:
			t.Fatalf("provider.mjs exited before it was ready:\n%s", stderr)
		case <-deadline:
			t.Fatalf("provider.mjs not ready after 30 s:\n%s", stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	var ready struct {
		Ready   bool   `json:"ready"`
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &ready); err != nil || !ready.Ready {
		t.Fatalf("provider.mjs: bad ready line %q (%v):\n%s", stdout, err, stderr)
	}
	return &oidcProvider{Issuer: ready.Issuer, JWKSURI: ready.JWKSURI, dir: dir, stderr: stderr}
}

// stopByPID ends the process: SIGTERM, then SIGKILL after 5 s.
func stopByPID(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// oidcRun is what client.mjs does: log in as Sub (default alice) asking
// for Scope at Resource, then make Calls with the access token.
type oidcRun struct {
	Resource string `json:"resource"`
	Scope    string `json:"scope"`
	Sub      string `json:"sub,omitempty"`
	// ACRValues and MaxAge go into the authorization request (with openid
	// added to the scope, as oidc-provider requires for them).
	ACRValues string `json:"acr_values,omitempty"`
	MaxAge    *int   `json:"max_age,omitempty"`
	// ACR and AMR are what the login page reports; the acr defaults to the
	// first of ACRValues, the amr to ["pwd"].
	ACR string   `json:"acr,omitempty"`
	AMR []string `json:"amr,omitempty"`
	// AuthAge: the login page says the user signed in this many seconds
	// ago (the token's auth_time).
	AuthAge int        `json:"auth_age,omitempty"`
	Calls   []oidcCall `json:"calls"`
	// AuthorizationDetails go into the authorization request (RFC 9396).
	AuthorizationDetails any `json:"authorization_details,omitempty"`
	// DiscoverFrom: the client learns the issuer from this URL's 401
	// (resource_metadata, RFC 9728) instead of being told it.
	DiscoverFrom string `json:"discover_from,omitempty"`
}

// oidcCall is one request with the token. As is how it is sent: "dpop"
// (oauth4webapi, retrying once on use_dpop_nonce), "bearer", or a
// hand-made proof: "dpop-replay" (one proof sent twice: results Name#1 and
// Name#2), "dpop-other-key", "dpop-no-ath", "dpop-wrong-htu",
// "dpop-wrong-htm".
type oidcCall struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	Method      string `json:"method,omitempty"`
	Body        string `json:"body,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	As          string `json:"as"`
	// Remediate: when answered insufficient_authorization, authorize again
	// with the challenge's authorization details and call once more (result
	// Name#remediated).
	Remediate bool `json:"remediate,omitempty"`
}

type oidcResult struct {
	Name            string `json:"name"`
	Status          int    `json:"status"`
	WWWAuthenticate string `json:"www_authenticate"` // without resource_metadata
	// ResourceMetadata is the challenge's resource_metadata (RFC 9728).
	ResourceMetadata string `json:"-"`
	DPoPNonce        string `json:"dpop_nonce"`
	Body             string `json:"body"`
	Retried          bool   `json:"retried"`
	// Challenges is oauth4webapi's own parse of WWW-Authenticate, for
	// "dpop" calls answered with a challenge.
	Challenges []oidcChallenge `json:"challenges"`
	// Remediation is the decoded authorization_remediation of an
	// insufficient_authorization challenge.
	Remediation map[string]any `json:"remediation"`
	// Claims are the new token's, on a Name#remediated result.
	Claims map[string]any `json:"claims"`
}

type oidcOutput struct {
	Token   string         `json:"token"`
	Claims  map[string]any `json:"claims"`
	Results []oidcResult   `json:"results"`
	// Discovery is what the client learned from the 401, with DiscoverFrom.
	Discovery *struct {
		Challenges       []oidcChallenge `json:"challenges"`
		ResourceMetadata string          `json:"resource_metadata"`
		Metadata         map[string]any  `json:"metadata"`
		Issuer           string          `json:"issuer"`
	} `json:"discovery"`
}

// result returns the result named name.
func (o oidcOutput) result(t *testing.T, name string) oidcResult {
	t.Helper()
	for _, r := range o.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result named %q in %+v", name, o.Results)
	return oidcResult{}
}

// run runs client.mjs against the provider and fails with its whole
// stderr (and the provider's) if it fails.
func (p *oidcProvider) run(t *testing.T, r oidcRun) oidcOutput {
	t.Helper()
	issuer := p.Issuer
	if r.DiscoverFrom != "" {
		issuer = "" // the client finds it
	}
	input, err := json.Marshal(struct {
		Issuer string `json:"issuer,omitempty"`
		oidcRun
	}{issuer, r})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "client.mjs")
	cmd.Dir = p.dir
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client.mjs failed: %v\n%s\nprovider.mjs:\n%s", err, stderr.String(), p.stderr)
	}
	var out oidcOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("client.mjs: bad output (%v): %q\n%s", err, stdout.String(), stderr.String())
	}
	for i := range out.Results {
		r := &out.Results[i]
		r.WWWAuthenticate, r.ResourceMetadata = splitChallenge(t, r.WWWAuthenticate)
	}
	return out
}

// jwtPart decodes the header (0) or payload (1) of a compact JWS.
func jwtPart(t *testing.T, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// verifyES256 checks the JWS signature with the P-256 JWK jwk.
func verifyES256(t *testing.T, jws string, jwk map[string]any) {
	t.Helper()
	point := []byte{4} // uncompressed: 0x04 || x || y
	for _, name := range []string{"x", "y"} {
		coord, err := base64.RawURLEncoding.DecodeString(fmt.Sprint(jwk[name]))
		if err != nil {
			t.Fatal(err)
		}
		point = append(point, coord...)
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatalf("bad P-256 JWK %v: %v", jwk, err)
	}
	dot := strings.LastIndex(jws, ".")
	sig, err := base64.RawURLEncoding.DecodeString(jws[dot+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("bad ES256 signature (%v)", err)
	}
	digest := sha256.Sum256([]byte(jws[:dot]))
	if !ecdsa.Verify(key, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("the ES256 signature does not verify with %v", jwk)
	}
}

func b64SHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ecThumbprint is the RFC 7638 thumbprint of an EC public JWK.
func ecThumbprint(jwk map[string]any) string {
	return b64SHA256(fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q,"y":%q}`, jwk["crv"], jwk["kty"], jwk["x"], jwk["y"]))
}

var base64urlSHA256 = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// TestOIDCProviderIssuesDPoPBoundTokens checks the harness only: the
// provider's token is an at+jwt signed by a key of its JWKS, bound to the
// client's DPoP key, and the client presents it with a proof for the
// request.
func TestOIDCProviderIssuesDPoPBoundTokens(t *testing.T) {
	p := startOIDCProvider(t)
	const resource = "https://api.test"

	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"authorization": r.Header.Get("Authorization"),
			"dpop":          r.Header.Get("DPoP"),
		})
	}))
	defer echo.Close()

	out := p.run(t, oidcRun{Resource: resource, Scope: "payments:write", Sub: "carol", Calls: []oidcCall{
		{Name: "pay", URL: echo.URL + "/payments?ref=1", Method: "POST", Body: `{"amount":1}`, ContentType: "application/json", As: "dpop"},
	}})

	header, claims := jwtPart(t, out.Token, 0), out.Claims
	t.Logf("access token header %v, claims %v", header, claims)
	if header["typ"] != "at+jwt" || header["alg"] != "ES256" || header["kid"] == nil {
		t.Errorf("token header = %v, want typ at+jwt, alg ES256 and a kid", header)
	}
	if claims["sub"] != "carol" || claims["iss"] != p.Issuer || claims["aud"] != resource {
		t.Errorf("sub, iss, aud = %v, %v, %v; want carol, %s, %s", claims["sub"], claims["iss"], claims["aud"], p.Issuer, resource)
	}
	if scope, _ := claims["scope"].(string); !slices.Contains(strings.Fields(scope), "payments:write") {
		t.Errorf("scope = %q, want payments:write in it", scope)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	if !base64urlSHA256.MatchString(jkt) {
		t.Fatalf("cnf.jkt = %q, want a base64url SHA-256 thumbprint", jkt)
	}
	if exp, _ := claims["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
		t.Errorf("the token is already expired: exp %v", exp)
	}
	verifyES256(t, out.Token, jwksKey(t, p.JWKSURI, header["kid"]))

	pay := out.result(t, "pay")
	var seen map[string]string
	if err := json.Unmarshal([]byte(pay.Body), &seen); pay.Status != http.StatusOK || err != nil {
		t.Fatalf("echo call: status %d, body %q (%v)", pay.Status, pay.Body, err)
	}
	if seen["authorization"] != "DPoP "+out.Token {
		t.Errorf("Authorization = %q, want DPoP and the token", seen["authorization"])
	}
	proofHeader, proof := jwtPart(t, seen["dpop"], 0), jwtPart(t, seen["dpop"], 1)
	jwk, _ := proofHeader["jwk"].(map[string]any)
	if proofHeader["typ"] != "dpop+jwt" || proofHeader["alg"] != "ES256" || jwk == nil {
		t.Fatalf("proof header = %v, want typ dpop+jwt, alg ES256 and a jwk", proofHeader)
	}
	if got := ecThumbprint(jwk); got != jkt {
		t.Errorf("the proof's key has thumbprint %s, the token is bound to %s", got, jkt)
	}
	verifyES256(t, seen["dpop"], jwk)
	if proof["htm"] != "POST" || proof["htu"] != echo.URL+"/payments" || proof["ath"] != b64SHA256(out.Token) || proof["jti"] == nil {
		t.Errorf("proof = %v, want htm POST, htu %s/payments, ath of the token and a jti", proof, echo.URL)
	}

	// The acr, auth_time and amr of the login reach the access token.
	maxAge := 300
	stepped := p.run(t, oidcRun{Resource: resource, Scope: "payments:write", ACRValues: "urn:stepup:loa:2", MaxAge: &maxAge, AMR: []string{"pwd", "otp"}})
	authTime, _ := stepped.Claims["auth_time"].(float64)
	if stepped.Claims["sub"] != "alice" || stepped.Claims["acr"] != "urn:stepup:loa:2" ||
		fmt.Sprint(stepped.Claims["amr"]) != "[pwd otp]" || time.Since(time.Unix(int64(authTime), 0)) > time.Minute {
		t.Errorf("claims = %v, want sub alice, acr urn:stepup:loa:2, amr [pwd otp] and a recent auth_time", stepped.Claims)
	}
}

// jwksKey fetches the provider's JWKS and returns the key with kid.
func jwksKey(t *testing.T, jwksURI string, kid any) map[string]any {
	t.Helper()
	resp, err := http.Get(jwksURI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k["kid"] == kid {
			if k["d"] != nil {
				t.Fatalf("the JWKS publishes a private key: kid %v", kid)
			}
			return k
		}
	}
	t.Fatalf("no key %v in %s", kid, jwksURI)
	return nil
}
