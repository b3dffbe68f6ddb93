package tests

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// codeReceiver is the customer's OTP webhook: it records every message.
type codeReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []otpMessage
}

type otpMessage struct {
	Channel     string `json:"channel"`
	To          string `json:"to"`
	Code        string `json:"code"`
	Purpose     string `json:"purpose"`
	ChallengeID string `json:"challenge_id"`
	Scope       string `json:"scope"`
}

func newCodeReceiver(t *testing.T) *codeReceiver {
	cr := &codeReceiver{}
	cr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m otpMessage
		if r.URL.Path != "/send" || json.NewDecoder(r.Body).Decode(&m) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		cr.mu.Lock()
		cr.msgs = append(cr.msgs, m)
		cr.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cr.srv.Close)
	return cr
}

// last returns the last message of a purpose; the gateway sends before it
// answers, so the message is there when the call returns.
func (cr *codeReceiver) last(t *testing.T, purpose string) otpMessage {
	t.Helper()
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for i := len(cr.msgs) - 1; i >= 0; i-- {
		if cr.msgs[i].Purpose == purpose {
			return cr.msgs[i]
		}
	}
	t.Fatalf("no %s code was delivered", purpose)
	return otpMessage{}
}

// dpopKey is a client's DPoP key, as the SDK keeps it, with its nonce.
type dpopKey struct {
	priv  *ecdsa.PrivateKey
	jwk   map[string]string
	mu    sync.Mutex
	nonce string
}

func newDPoPKey(t *testing.T) *dpopKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return &dpopKey{priv: priv, jwk: map[string]string{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(pub[1:33]), "y": enc.EncodeToString(pub[33:])}}
}

// proof builds an ES256 DPoP proof (prelude-protocol.md §6.2).
func (k *dpopKey) proof(t *testing.T, method, htu, jti, nonce string) string {
	t.Helper()
	header := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk}
	claims := map[string]any{"jti": jti, "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}

func randomJTI(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// apiAnswer is one response of the gateway.
type apiAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (a apiAnswer) str(name string) string { s, _ := a.body[name].(string); return s }

// gateway is one caddy instance of the pair.
type gateway struct {
	base   string
	client *http.Client
}

func (g *gateway) call(t *testing.T, method, path string, header http.Header, body any) apiAnswer {
	t.Helper()
	a, err := g.try(method, path, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// try is call without t, for goroutines.
func (g *gateway) try(method, path string, header http.Header, body any) (apiAnswer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiAnswer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.base+path, rd)
	if err != nil {
		return apiAnswer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return apiAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := apiAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

// sessionCall makes a session-DPoP call (prelude-protocol.md §6.3): a proof
// with the stored nonce; on use_dpop_nonce, once more with the nonce given.
func (g *gateway) sessionCall(t *testing.T, k *dpopKey, path string, header http.Header, body any) apiAnswer {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	send := func() apiAnswer {
		k.mu.Lock()
		nonce := k.nonce
		k.mu.Unlock()
		header.Set("DPoP", k.proof(t, http.MethodPost, g.base+"/v1/session"+path, randomJTI(t), nonce))
		return g.call(t, http.MethodPost, "/v1/session"+path, header, body)
	}
	a := send()
	if a.status == http.StatusBadRequest && a.str("code") == "use_dpop_nonce" {
		n := a.header.Get("DPoP-Nonce")
		if n == "" {
			t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
		}
		k.mu.Lock()
		k.nonce = n
		k.mu.Unlock()
		a = send()
	}
	if n := a.header.Get("DPoP-Nonce"); n != "" {
		k.mu.Lock()
		k.nonce = n
		k.mu.Unlock()
	}
	return a
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// twoGateways starts two caddy instances sharing one redis-server and one
// signing key, each its own external URL, both the same issuer.
func twoGateways(t *testing.T, codes *codeReceiver, api *upstream) (*gateway, *gateway) {
	t.Helper()
	redis := redistest.Start(t)
	signer, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := signer.PEM()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "signing_key.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	var gws []*gateway
	for i := 0; i < 2; i++ {
		port := testcaddy.FreePort(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		testcaddy.Start(t, testcaddy.Config{
			Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer http://gateway.test
		external_url %[1]s
		signing_key %[2]s
		store redis redis://%[3]s/0
		login otp phone_number
		otp {
			sender webhook %[4]s/send
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

%[1]s {
	stepup_session
	route /api/transfers* {
		stepup transfer:write
		reverse_proxy %[5]s
	}
	respond 404
}
`, base, keyFile, redis.Addr, codes.srv.URL, api.srv.URL),
			WaitFor: []string{base + "/.well-known/jwks.json"},
		})
		gws = append(gws, &gateway{base: base, client: newClient(t)})
	}
	return gws[0], gws[1]
}

// TestStepUpAcrossTwoGateways drives the session API the way the SDK does,
// over HTTP, against two gateways sharing one Redis: a login on one, the
// step-up code checked in parallel on both (exactly one wins), the grant
// redeemed on the other, then the single-use grant spent by 50 parallel
// requests split across both (exactly one reaches the upstream).
func TestStepUpAcrossTwoGateways(t *testing.T) {
	codes := newCodeReceiver(t)
	api := newUpstream(t)
	a, b := twoGateways(t, codes, api)
	key := newDPoPKey(t)
	const phone = "+33612345678"

	// Login on A.
	start := a.call(t, http.MethodPost, "/v1/session/login/otp", nil,
		map[string]any{"identifier": map[string]string{"type": "phone_number", "value": phone}})
	if start.status != http.StatusNoContent {
		t.Fatalf("login/otp: %d %s", start.status, start.raw)
	}
	flow := start.header.Get("X-Verification-Token")
	if flow == "" {
		t.Fatal("login/otp answered no X-Verification-Token")
	}
	login := codes.last(t, "login")
	if login.To != phone || login.Channel != "sms" {
		t.Fatalf("login code sent as %+v", login)
	}
	checked := a.sessionCall(t, key, "/login/otp/check", http.Header{"X-Verification-Token": {flow}}, map[string]string{"code": login.Code})
	if checked.status != http.StatusOK || checked.str("access_token") == "" {
		t.Fatalf("login/otp/check: %d %s", checked.status, checked.raw)
	}
	access := checked.str("access_token")
	refresh := checked.header.Get("X-Refresh-Token")
	if refresh == "" {
		t.Fatal("no X-Refresh-Token")
	}

	// Without the scope the route asks for a step-up; nothing reaches the API.
	denied := b.call(t, http.MethodPost, "/api/transfers", http.Header{"Authorization": {"Bearer " + access}}, nil)
	if denied.status != http.StatusUnauthorized || !strings.Contains(denied.header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Fatalf("transfer without the scope: %d %q", denied.status, denied.header.Get("WWW-Authenticate"))
	}

	// Step-up on A: the code goes to the user's phone.
	req := a.call(t, http.MethodPost, "/v1/session/stepup/request", http.Header{"Authorization": {"Bearer " + access}},
		map[string]any{"scope": "transfer:write", "metadata": map[string]string{"amount": "500"}})
	if req.status != http.StatusOK || req.str("status") != "review" || req.str("challenge_token") == "" {
		t.Fatalf("stepup/request: %d %s", req.status, req.raw)
	}
	t1 := req.str("challenge_token")
	c1 := jwtClaims(t, t1)
	if c1["current_step"] != "verify_sms" || c1["scope_requested"] != "transfer:write" {
		t.Fatalf("challenge token claims %v", c1)
	}
	sent := a.call(t, http.MethodPost, "/v1/session/otp", nil, map[string]string{"challenge_token": t1})
	if sent.status != http.StatusNoContent {
		t.Fatalf("otp: %d %s", sent.status, sent.raw)
	}
	stepCode := codes.last(t, "step_up")
	if stepCode.To != phone || stepCode.ChallengeID != c1["challenge_id"] {
		t.Fatalf("step-up code sent as %+v", stepCode)
	}

	// 20 parallel right codes, half on each gateway: exactly one advances
	// the challenge. Challenge-bound proofs: jti = the token's jti, no nonce.
	jti, _ := c1["jti"].(string)
	const checks = 20
	answers := make([]apiAnswer, checks)
	errs := make([]error, checks)
	proofs := make([]string, checks)
	for i := range proofs {
		g := []*gateway{a, b}[i%2]
		proofs[i] = key.proof(t, http.MethodPost, g.base+"/v1/session/otp/check", jti, "")
	}
	var wg sync.WaitGroup
	for i := 0; i < checks; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := []*gateway{a, b}[i%2]
			answers[i], errs[i] = g.try(http.MethodPost, "/v1/session/otp/check", http.Header{"DPoP": {proofs[i]}},
				map[string]string{"code": stepCode.Code, "challenge_token": t1})
		}()
	}
	wg.Wait()
	var t2 string
	wins := 0
	for i, ans := range answers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch {
		case ans.status == http.StatusOK:
			wins++
			t2 = ans.str("challenge_token")
		case ans.status >= 500:
			t.Fatalf("otp/check %d answered %d %s", i, ans.status, ans.raw)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d parallel right codes were accepted, want exactly 1", wins, checks)
	}
	if jwtClaims(t, t2)["current_step"] != "completed" {
		t.Fatalf("token after the code: %v", jwtClaims(t, t2))
	}

	// Redeem on B.
	red := b.sessionCall(t, key, "/refresh", http.Header{"X-Refresh-Token": {refresh}}, map[string]string{"step_up_token": t2})
	if red.status != http.StatusOK || red.str("access_token") == "" {
		t.Fatalf("refresh with step_up_token: %d %s", red.status, red.raw)
	}
	stepped := red.str("access_token")
	ac := jwtClaims(t, stepped)
	grants, _ := ac["grt"].(map[string]any)
	if !strings.Contains(" "+fmt.Sprint(ac["scope"])+" ", " transfer:write ") || grants["transfer:write"] == nil {
		t.Fatalf("stepped-up access token claims %v", ac)
	}
	again := a.sessionCall(t, key, "/refresh", http.Header{"X-Refresh-Token": {red.header.Get("X-Refresh-Token")}}, map[string]string{"step_up_token": t2})
	if again.status == http.StatusOK || again.str("code") != "token_reused" {
		t.Fatalf("second redemption: %d %s", again.status, again.raw)
	}

	// 50 parallel transfers with the single-use token, split across both
	// gateways: exactly one reaches the API.
	const transfers = 50
	results := make([]apiAnswer, transfers)
	transferErrs := make([]error, transfers)
	for i := 0; i < transfers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := []*gateway{a, b}[i%2]
			results[i], transferErrs[i] = g.try(http.MethodPost, "/api/transfers", http.Header{"Authorization": {"Bearer " + stepped}}, nil)
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for i, r := range results {
		if transferErrs[i] != nil {
			t.Fatal(transferErrs[i])
		}
		switch {
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusUnauthorized && strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_user_authentication"):
			refused++
		default:
			t.Errorf("transfer answered %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.raw)
		}
	}
	if hits := api.hits.Load(); hits != 1 || ok != 1 || refused != transfers-1 {
		t.Fatalf("%d upstream hits, %d passed, %d refused with insufficient_user_authentication; want 1, 1, %d", hits, ok, refused, transfers-1)
	}
}
