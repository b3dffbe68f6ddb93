package stepup

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const testIssuer = "https://gateway.test"

// testClock is the engine's (and the verifiers') clock: tests move time
// instead of sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now().Truncate(time.Second)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// capturingSender is the other side of the wire: it records every message.
type capturingSender struct {
	mu   sync.Mutex
	msgs []otp.Message
}

func (s *capturingSender) Send(_ context.Context, m otp.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *capturingSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *capturingSender) last(t testing.TB) otp.Message {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		t.Fatal("no OTP message was sent")
	}
	return s.msgs[len(s.msgs)-1]
}

// harness is an engine with its collaborators.
type harness struct {
	e        *Engine
	st       store.Store
	clk      *testClock
	sender   *capturingSender
	signer   *jwks.Signer // the gateway's key
	customer *jwks.Signer // the customer's backend, signing verification tokens
}

func mustSigner(t testing.TB) *jwks.Signer {
	t.Helper()
	s, err := jwks.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Test scopes of the default configuration.
const (
	scopeSMS      = "transfer:write" // verify_sms, single-use 300 s
	scopeSession  = "profile:write"  // verify_sms, session-bound 600 s
	scopeCustom   = "kyc"            // kyc_review then doc_check, single-use
	scopeSMSThenK = "payout"         // verify_sms then kyc_review
	scopeBlocked  = "admin"          // block
)

func defaultScopes() map[string]ScopePolicy {
	direct := func(mode string, grantedFor int, keys ...string) ScopePolicy {
		d := &DirectPolicy{GrantMode: mode, GrantedFor: time.Duration(grantedFor) * time.Second}
		for _, k := range keys {
			d.Steps = append(d.Steps, DirectStep{Key: k, Expiration: 300 * time.Second})
		}
		return ScopePolicy{Direct: d}
	}
	return map[string]ScopePolicy{
		scopeSMS:      direct(GrantSingleUse, 300, StepVerifySMS),
		scopeSession:  direct(GrantSessionBound, 600, StepVerifySMS),
		scopeCustom:   direct(GrantSingleUse, 300, "kyc_review", "doc_check"),
		scopeSMSThenK: direct(GrantSingleUse, 300, StepVerifySMS, "kyc_review"),
		scopeBlocked:  {Block: true},
	}
}

// newHarness builds an engine over st (a fresh Memory when nil) with the
// default configuration, changed by the options.
func newHarness(t testing.TB, st store.Store, opts ...func(*Config)) *harness {
	t.Helper()
	if st == nil {
		st = store.NewMemory()
	}
	h := &harness{st: st, clk: newTestClock(), sender: &capturingSender{}, signer: mustSigner(t), customer: mustSigner(t)}
	challenges, err := jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
		Issuer: testIssuer, Audiences: []string{testIssuer}, Keys: h.signer.KeySource(),
		Algorithms: []string{"ES256"}, Types: []string{ChallengeTokenType},
	}}, Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	verifications, err := jwks.NewVerifier(jwks.VerifierOptions{Issuers: []jwks.Issuer{{
		Keys: h.customer.KeySource(), Algorithms: []string{"ES256"},
	}}, Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Issuer: testIssuer, Signer: h.signer, Store: st, Sender: h.sender,
		LoginIdentifiers: []string{IdentifierPhone, IdentifierEmail},
		Scopes:           defaultScopes(), CustomStepKeys: []string{"kyc_review", "doc_check"},
		ChallengeVerifier: challenges, Verifications: verifications, HookSigner: h.signer,
		ChallengeMemory: 1000, // as the gateway runs (the token cache's size)
		Now:             h.clk.Now,
		// Generous per-client and global limits: the tests that are about
		// them set their own.
		Limits: RateLimits{ClientUnprovenSends: Rate{1000, time.Hour}, ClientDestinationSends: Rate{1000, time.Hour},
			ClientSends: Rate{1000, time.Hour}, ClientUnfinishedLogins: Rate{1000, time.Hour},
			ClientLoginStarts: Rate{1000, time.Hour}, LoginStarts: Rate{1000, time.Hour}, Sends: Rate{1000, time.Hour}},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.e, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func randText(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newJKT stands for a client's DPoP key: the engine only sees thumbprints.
func newJKT(t testing.TB) string { return "jkt-" + randText(t) }

// proofFor is a fresh, verified-looking session proof of key jkt.
func proofFor(t testing.TB, jkt string) *dpop.Proof {
	return &dpop.Proof{Thumbprint: jkt, ID: randText(t), IssuedAt: time.Now()}
}

// testClient is the client every call of the tests comes from.
var testClient = ClientInfo{UserAgent: "test", IP: "192.0.2.1"}

// client is a logged-in test user: its DPoP key, session and tokens.
type client struct {
	jkt    string
	tokens *Tokens
}

func (c *client) caller() Caller {
	return Caller{UserID: c.tokens.UserID, SessionID: c.tokens.SessionID}
}

// login runs a whole OTP login for a phone number or email address.
func (h *harness) login(t testing.TB, typ, value string) *client {
	t.Helper()
	flow, err := h.e.StartLogin(context.Background(), typ, value, testClient)
	if err != nil {
		t.Fatalf("StartLogin: %v", err)
	}
	c := &client{jkt: newJKT(t)}
	c.tokens, err = h.e.CheckLogin(context.Background(), flow, h.sender.last(t).Code, proofFor(t, c.jkt), ClientInfo{UserAgent: "test"})
	if err != nil {
		t.Fatalf("CheckLogin: %v", err)
	}
	return c
}

// refresh rotates c's tokens with a fresh proof of its key.
func (h *harness) refresh(t testing.TB, c *client, stepUpToken string) (*Tokens, error) {
	t.Helper()
	tok, err := h.e.Refresh(context.Background(), RefreshRequest{RefreshToken: c.tokens.RefreshToken, Proof: proofFor(t, c.jkt), StepUpToken: stepUpToken})
	if err == nil {
		c.tokens = tok
	}
	return tok, err
}

// decodeClaims returns a JWT's payload without verifying it (the tests
// verify what matters separately); numbers stay json.Number.
func decodeClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// accessOf decodes an access token's claims.
func accessOf(t testing.TB, token string) accessClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c accessClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// challengeOf decodes a challenge token's claims.
func challengeOf(t testing.TB, token string) challengeClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c challengeClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// challengeProof is the SDK's challenge-bound proof: the session key and
// jti = the challenge token's jti.
func challengeProof(t testing.TB, c *client, token string) *dpop.Proof {
	return &dpop.Proof{Thumbprint: c.jkt, ID: challengeOf(t, token).Jti, IssuedAt: time.Now()}
}

// wantErr fails unless err matches want (by code, errors.Is).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// storeHas reports whether key exists in the harness's store.
func (h *harness) storeHas(t testing.TB, key string) bool {
	t.Helper()
	_, err := h.st.Get(context.Background(), key)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("store Get: %v", err)
	}
	return true
}

// counterOf reads a counter of the store (0 when absent).
func (h *harness) counterOf(t testing.TB, key string) int {
	t.Helper()
	raw, err := h.st.Get(context.Background(), key)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("store Get: %v", err)
	}
	return atoi(string(raw))
}

// verification is a custom step's verification token signed by signer.
type verification struct {
	Sub         string   `json:"sub"`
	Jti         string   `json:"jti"`
	Iat         int64    `json:"iat"`
	Exp         int64    `json:"exp"`
	ChallengeID string   `json:"challenge_id"`
	Key         string   `json:"key"`
	Status      string   `json:"status"`
	AMR         []string `json:"amr,omitempty"`
}

func (h *harness) verificationToken(t testing.TB, signer *jwks.Signer, v verification) string {
	t.Helper()
	now := h.clk.Now()
	if v.Jti == "" {
		v.Jti = randText(t)
	}
	if v.Status == "" {
		v.Status = "completed"
	}
	v.Iat, v.Exp = now.Unix(), now.Add(5*time.Minute).Unix()
	tok, err := signer.Sign("JWT", v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
