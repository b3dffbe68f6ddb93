package caddystepup

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/signals"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

const signalsIssuer = "https://idp.test/"

// signalsHandlerFor is a stepup_signals handler of app for one
// transmitter whose key is key, as Provision would set it up.
func signalsHandlerFor(t *testing.T, app *App, key *ecdsa.PrivateKey) *SignalsHandler {
	t.Helper()
	jwk := map[string]any{"kty": "EC", "crv": "P-256", "kid": "k1",
		"x": jose.B64.EncodeToString(key.X.FillBytes(make([]byte, 32))), "y": jose.B64.EncodeToString(key.Y.FillBytes(make([]byte, 32)))}
	doc, _ := json.Marshal(map[string]any{"keys": []any{jwk}})
	keys, err := jwks.NewStatic(doc)
	if err != nil {
		t.Fatal(err)
	}
	h := &SignalsHandler{app: app, logger: zap.NewNop(), receiver: new(atomic.Pointer[boundReceiver]),
		SignalsConfig: appconfig.SignalsConfig{Transmitters: []appconfig.Transmitter{{Issuer: signalsIssuer, JWKSURL: signalsIssuer + "jwks.json", Audience: []string{"gw"}}}},
		resolved: []signals.Transmitter{{Issuer: signalsIssuer, Audiences: []string{"gw"}, Keys: keys, Algorithms: []string{"ES256"},
			Authorization: "Bearer push"}}}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

// signedSET is a SET of the transmitter: one event about subject.
func signedSET(key *ecdsa.PrivateKey, event string, subject map[string]any, edit func(map[string]any)) string {
	claims := map[string]any{"iss": signalsIssuer, "aud": "gw", "iat": time.Now().Unix(),
		"jti": fmt.Sprintf("j-%d", time.Now().UnixNano()), "sub_id": subject, "events": map[string]any{event: map[string]any{}}}
	if edit != nil {
		edit(claims)
	}
	payload, _ := json.Marshal(claims)
	input := jose.B64.EncodeToString([]byte(`{"alg":"ES256","kid":"k1","typ":"secevent+jwt"}`)) + "." + jose.B64.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, _ := ecdsa.Sign(rand.Reader, key, sum[:])
	return input + "." + jose.B64.EncodeToString(append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...))
}

func pushTo(h *SignalsHandler, method, set string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/ssf/events", strings.NewReader(set))
	r.Header.Set("Content-Type", signals.MediaType)
	r.Header.Set("Authorization", "Bearer push")
	for k, v := range header {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	_ = h.ServeHTTP(rec, r, nil)
	return rec
}

// TestSignalsHandlerAnswers: the handler with its app's runtime (memory
// store, a revocation list) answers each push as RFC 8935 says, and an
// accepted session-revoked is in the revocation list when 202 is sent.
func TestSignalsHandlerAnswers(t *testing.T) {
	app := testApp(t)
	app.Trust = []*appconfig.Trust{{Issuer: signalsIssuer, JWKSURL: signalsIssuer + "jwks.json"}}
	app.setDefaults()
	list, logs := withRevocations(t, app, store.NewMemoryLedger(nil), revocation.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := signalsHandlerFor(t, app, key)
	alice := map[string]any{"format": "iss_sub", "iss": signalsIssuer, "sub": "alice"}
	token := revocation.TokenFacts{Issuer: signalsIssuer, Subject: "alice", SessionID: "s1", ID: "t1", IssuedAt: time.Now().Add(-time.Minute)}

	if rec := pushTo(h, "GET", "", nil); rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d %v", rec.Code, rec.Header())
	}
	for name, tc := range map[string]struct {
		set    string
		header http.Header
		code   string
	}{
		"wrong aud":           {signedSET(key, signals.EventSessionRevoked, alice, func(c map[string]any) { c["aud"] = "other" }), nil, "invalid_audience"},
		"two Content-Types":   {signedSET(key, signals.EventSessionRevoked, alice, nil), http.Header{"Content-Type": {signals.MediaType, signals.MediaType}}, "invalid_request"},
		"two Authorizations":  {signedSET(key, signals.EventSessionRevoked, alice, nil), http.Header{"Authorization": {"Bearer push", "Bearer push"}}, "authentication_failed"},
		"another push secret": {signedSET(key, signals.EventSessionRevoked, alice, nil), http.Header{"Authorization": {"Bearer pull"}}, "authentication_failed"},
	} {
		rec := pushTo(h, "POST", tc.set, tc.header)
		var body map[string]string
		if rec.Code != 400 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["err"] != tc.code || body["description"] == "" ||
			rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s %v", name, rec.Code, rec.Body, rec.Header())
		}
	}
	if e, err := list.Check(token); err != nil || e != nil {
		t.Fatalf("a refused SET revoked something: %v %v", e, err)
	}

	set := signedSET(key, signals.EventSessionRevoked, alice, nil)
	if rec := pushTo(h, "POST", set, nil); rec.Code != 202 || rec.Body.Len() != 0 {
		t.Fatalf("accepted: %d %s", rec.Code, rec.Body)
	}
	if e, err := list.Check(token); err != nil || e == nil || e.Kind != revocation.Subject || e.Reason != "signal:caep.session-revoked" {
		t.Fatalf("after session-revoked: %+v %v", e, err)
	}
	if rec := pushTo(h, "POST", set, nil); rec.Code != 202 {
		t.Fatalf("the same SET again: %d", rec.Code)
	}
	if got := logs.FilterField(zap.String("event", telemetry.EventRevocationRecorded)).Len(); got != 1 {
		t.Fatalf("%d revocations recorded, want 1 (the replay records none)", got)
	}
	outcomes := map[string]int{}
	for _, e := range logs.FilterField(zap.String("event", telemetry.EventSignalReceived)).All() {
		outcomes[fmt.Sprint(e.ContextMap()["outcome"])]++
	}
	if outcomes["accepted"] != 1 || outcomes["duplicate"] != 1 || outcomes["invalid_audience"] != 1 || outcomes["authentication_failed"] != 2 {
		t.Fatalf("audited outcomes %v", outcomes)
	}

	// The revocation list cannot be written: 503 with Retry-After, nothing
	// accepted; the transmitter's retry, once it can be, is acted on (not
	// taken for a replay).
	failing := &failingLedger{Ledger: store.NewMemoryLedger(nil)}
	failing.fail.Store(true)
	other := testApp(t)
	other.Trust = app.Trust
	other.setDefaults()
	otherList, _ := withRevocations(t, other, failing, revocation.Options{})
	ho := signalsHandlerFor(t, other, key)
	retried := signedSET(key, signals.EventSessionRevoked, alice, nil)
	if rec := pushTo(ho, "POST", retried, nil); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("revocation list down: %d %v", rec.Code, rec.Header())
	}
	failing.fail.Store(false)
	if rec := pushTo(ho, "POST", retried, nil); rec.Code != 202 {
		t.Fatalf("the retry: %d %s", rec.Code, rec.Body)
	}
	if e, err := otherList.Check(token); err != nil || e == nil {
		t.Fatalf("the retry was not acted on: %v %v", e, err)
	}
}

// failingLedger fails every Put while fail is set.
type failingLedger struct {
	store.Ledger
	fail atomic.Bool
}

func (l *failingLedger) Put(ctx context.Context, member string, until time.Time) error {
	if l.fail.Load() {
		return fmt.Errorf("ledger down")
	}
	return l.Ledger.Put(ctx, member, until)
}
