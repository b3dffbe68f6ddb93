package stepup

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const scopeHooked = "transfer:hooked"

// hookServer is the customer's delegation hook: it records each request
// and answers with respond.
type hookServer struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	respond func(w http.ResponseWriter, r *http.Request)
	srv     *httptest.Server
}

func newHookServer(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *hookServer {
	hs := &hookServer{respond: respond}
	hs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hs.mu.Lock()
		hs.bodies = append(hs.bodies, body)
		hs.headers = append(hs.headers, r.Header.Clone())
		hs.mu.Unlock()
		hs.respond(w, r)
	}))
	t.Cleanup(hs.srv.Close)
	return hs
}

func answer(body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func hookHarness(t *testing.T, hs *hookServer) *harness {
	return newHarness(t, nil, func(c *Config) { c.Scopes[scopeHooked] = ScopePolicy{HookURL: hs.srv.URL} })
}

// verifyHookSignature checks X-Webhook-Signature (ES256, raw r||s, base64url)
// over the raw body with the public key of the signer's JWKS.
func verifyHookSignature(t *testing.T, jwksDoc []byte, body []byte, sig string) bool {
	t.Helper()
	var set struct {
		Keys []struct{ Crv, X, Y string } `json:"keys"`
	}
	if err := json.Unmarshal(jwksDoc, &set); err != nil || len(set.Keys) != 1 || set.Keys[0].Crv != "P-256" {
		t.Fatalf("JWKS %s: %v", jwksDoc, err)
	}
	x, err1 := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
	y, err2 := base64.RawURLEncoding.DecodeString(set.Keys[0].Y)
	if err1 != nil || err2 != nil {
		t.Fatal("JWKS coordinates are not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(raw) != 64 {
		return false
	}
	sum := sha256.Sum256(body)
	return ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:]))
}

func TestHookRequest(t *testing.T) {
	hs := newHookServer(t, answer(`{"status":"block"}`))
	h := hookHarness(t, hs)
	c := h.login(t, IdentifierPhone, phoneA)
	md := map[string]string{"amount": "500"}
	signals := Signals{UserAgent: "Mozilla/5.0", Platform: "WEB", IP: "203.0.113.42"}
	res, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, md, signals)
	noErr(t, "RequestStepUp", err)
	if res.Status != StatusBlock || res.ChallengeToken != "" {
		t.Fatalf("block answered %+v", res)
	}
	// The open-challenge cap is counted before the hook is called, so that
	// a client past the cap never reaches the customer's backend: a step-up
	// the hook blocks counted too.
	if !h.storeHas(t, userChallengesKey(c.tokens.UserID)) {
		t.Fatal("the hook was called before the challenge cap was counted")
	}
	if len(hs.bodies) != 1 {
		t.Fatalf("%d hook calls", len(hs.bodies))
	}
	body, hdr := hs.bodies[0], hs.headers[0]

	var fields map[string]json.RawMessage
	noErr(t, "decoding the hook body", json.Unmarshal(body, &fields))
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	if len(names) != 5 {
		t.Fatalf("hook body members %v, want exactly scope_requested,user_id,identifiers,signals,metadata", names)
	}
	want := map[string]string{
		"scope_requested": `"` + scopeHooked + `"`,
		"user_id":         `"` + c.tokens.UserID + `"`,
		"identifiers":     `[{"type":"phone_number","value":"` + phoneA + `"}]`,
		"signals":         `{"user_agent":"Mozilla/5.0","platform":"WEB","ip":"203.0.113.42"}`,
		"metadata":        `{"amount":"500"}`,
	}
	for k, v := range want {
		if string(fields[k]) != v {
			t.Errorf("%s = %s, want %s", k, fields[k], v)
		}
	}
	if hdr.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
	}
	if hdr.Get("X-Webhook-Signature-Key-Id") != h.signer.KeyID() {
		t.Errorf("key id %q, want %q", hdr.Get("X-Webhook-Signature-Key-Id"), h.signer.KeyID())
	}
	if !verifyHookSignature(t, h.signer.PublicJWKS(), body, hdr.Get("X-Webhook-Signature")) {
		t.Fatal("X-Webhook-Signature does not verify over the raw body")
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-2] ^= 1
	if verifyHookSignature(t, h.signer.PublicJWKS(), tampered, hdr.Get("X-Webhook-Signature")) {
		t.Fatal("the signature verifies over another body")
	}

	// Without metadata the hook still gets an object.
	_, err = h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, nil, Signals{})
	noErr(t, "RequestStepUp without metadata", err)
	noErr(t, "decoding", json.Unmarshal(hs.bodies[1], &fields))
	if string(fields["metadata"]) != "{}" {
		t.Fatalf("metadata without request metadata: %s", fields["metadata"])
	}
}

func TestHookDecisions(t *testing.T) {
	t.Run("continue", func(t *testing.T) {
		h := hookHarness(t, newHookServer(t, answer(`{"status":"continue","grant_mode":"single-use","granted_for":60}`)))
		c := h.login(t, IdentifierPhone, phoneA)
		res := h.stepUp(t, c, scopeHooked, nil)
		cl := challengeOf(t, res.ChallengeToken)
		if res.Status != StatusContinue || cl.CurrentStep != CurrentStepCompleted || len(cl.Steps) != 0 {
			t.Fatalf("continue: %+v %+v", res, cl)
		}
		tok, err := h.refresh(t, c, res.ChallengeToken)
		noErr(t, "redeem", err)
		if accessOf(t, tok.AccessToken).Grant[scopeHooked] == "" {
			t.Fatal("no single-use grant")
		}
	})
	t.Run("review with verify_sms then kyc_review", func(t *testing.T) {
		h := hookHarness(t, newHookServer(t, answer(`{"status":"review","grant_mode":"session-bound","granted_for":3600,
			"steps":[{"key":"verify_sms","expiration_duration":300},{"order":2,"key":"kyc_review","expiration_duration":600}]}`)))
		c := h.login(t, IdentifierPhone, phoneA)
		res := h.stepUp(t, c, scopeHooked, nil)
		cl := challengeOf(t, res.ChallengeToken)
		want := []tokenStep{{1, StepVerifySMS, 300, false}, {2, "kyc_review", 600, false}}
		if res.Status != StatusReview || cl.CurrentStep != StepVerifySMS || !reflect.DeepEqual(cl.Steps, want) ||
			cl.GrantMode != GrantSessionBound || cl.GrantedFor != 3600 {
			t.Fatalf("review: %+v %+v", res, cl)
		}
		done := h.passCustom(t, c, h.passSMS(t, c, res.ChallengeToken))
		tok, err := h.refresh(t, c, done)
		noErr(t, "redeem", err)
		if s := accessOf(t, tok.AccessToken).Scope; s != scopeHooked {
			t.Fatalf("scope %q", s)
		}
	})
}

func TestHookRefusals(t *testing.T) {
	valid := `"grant_mode":"single-use","granted_for":60`
	step := func(key string, dur int) string {
		b, _ := json.Marshal(Step{Key: key, ExpirationDuration: dur})
		return string(b)
	}
	tests := []struct {
		name    string
		respond func(w http.ResponseWriter, r *http.Request)
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }},
		{"403 with a decision body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"status":"continue",`+valid+`}`)
		}},
		{"302 with a decision body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, `{"status":"continue",`+valid+`}`)
		}},
		{"garbage", answer(`<html>not json</html>`)},
		{"empty body", answer(``)},
		{"trailing data", answer(`{"status":"continue",` + valid + `} {}`)},
		{"oversize", answer(`{"status":"continue",` + valid + `,"pad":"` + strings.Repeat("x", 64<<10) + `"}`)},
		{"oversize by trailing spaces", answer(`{"status":"continue",` + valid + `}` + strings.Repeat(" ", 64<<10))},
		{"status invalid", answer(`{"status":"allow",` + valid + `}`)},
		{"status missing", answer(`{` + valid + `}`)},
		{"review without steps", answer(`{"status":"review",` + valid + `}`)},
		{"review with empty steps", answer(`{"status":"review","steps":[],` + valid + `}`)},
		{"unknown step key", answer(`{"status":"review","steps":[` + step("selfie", 300) + `],` + valid + `}`)},
		{"step key with bad characters", answer(`{"status":"review","steps":[` + step("kyc review", 300) + `],` + valid + `}`)},
		{"duplicate step", answer(`{"status":"review","steps":[` + step("kyc_review", 300) + `,` + step("kyc_review", 300) + `],` + valid + `}`)},
		{"duration 0", answer(`{"status":"review","steps":[` + step("kyc_review", 0) + `],` + valid + `}`)},
		{"duration 86401", answer(`{"status":"review","steps":[` + step("kyc_review", 86401) + `],` + valid + `}`)},
		{"order out of sequence", answer(`{"status":"review","steps":[{"order":2,"key":"kyc_review","expiration_duration":60}],` + valid + `}`)},
		{"grant_mode invalid", answer(`{"status":"continue","grant_mode":"forever","granted_for":60}`)},
		{"grant_mode missing", answer(`{"status":"continue","granted_for":60}`)},
		{"granted_for 0", answer(`{"status":"continue","grant_mode":"single-use","granted_for":0}`)},
		{"granted_for 86401", answer(`{"status":"continue","grant_mode":"single-use","granted_for":86401}`)},
		{"granted_for a string", answer(`{"status":"continue","grant_mode":"single-use","granted_for":"60"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hookHarness(t, newHookServer(t, tt.respond))
			c := h.login(t, IdentifierPhone, phoneA)
			res, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, nil, Signals{})
			wantErr(t, tt.name, err, ErrHookFailed)
			if res != nil {
				t.Fatalf("a result with the refusal: %+v", res)
			}
			if AsError(err).Code != "hook_failed" {
				t.Fatalf("client sees %v", AsError(err))
			}
			// The cap was counted before the hook was called, and once.
			if n := h.counterOf(t, userChallengesKey(c.tokens.UserID)); n != 1 {
				t.Fatalf("the challenge cap counted %d", n)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		hs := newHookServer(t, answer(`{}`))
		h := hookHarness(t, hs)
		hs.srv.Close()
		c := h.login(t, IdentifierPhone, phoneA)
		_, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, nil, Signals{})
		wantErr(t, "unreachable hook", err, ErrHookFailed)
	})
	// The engine's own 5 s limit is not waited for here (tests do not
	// sleep): a caller deadline takes the same path, the request fails
	// while the hook is still thinking.
	t.Run("slow hook", func(t *testing.T) {
		release := make(chan struct{})
		hs := newHookServer(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			answer(`{"status":"continue","grant_mode":"single-use","granted_for":60}`)(w, r)
		})
		defer close(release)
		h := hookHarness(t, hs)
		c := h.login(t, IdentifierPhone, phoneA)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := h.e.RequestStepUp(ctx, c.caller(), scopeHooked, nil, Signals{})
		wantErr(t, "slow hook", err, ErrHookFailed)
		if n := h.counterOf(t, userChallengesKey(c.tokens.UserID)); n != 1 {
			t.Fatalf("the challenge cap counted %d", n)
		}
	})
	t.Run("hook client timeout", func(t *testing.T) {
		release := make(chan struct{})
		hs := newHookServer(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		h := newHarness(t, nil, func(c *Config) {
			c.Scopes[scopeHooked] = ScopePolicy{HookURL: hs.srv.URL}
			c.HookClient = &http.Client{Timeout: 100 * time.Millisecond}
		})
		c := h.login(t, IdentifierPhone, phoneA)
		_, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, nil, Signals{})
		wantErr(t, "hook client timeout", err, ErrHookFailed)
	})
}
