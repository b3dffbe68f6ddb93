package signals

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const (
	testStreamID      = "stream-1"
	testCredential    = "Bearer stream-secret-4f1c"
	testOtherIssuer   = "https://other-idp.example.com/"
	verificationDelay = 500 * time.Millisecond
)

// fakeTransmitter is a transmitter's stream management API: its
// configuration metadata, its verification endpoint (which remembers the
// states asked for) and its status endpoint. Each answer can be changed.
type fakeTransmitter struct {
	srv *httptest.Server

	mu       sync.Mutex
	metadata string // the metadata document; "" for the default
	verify   func(w http.ResponseWriter, r *http.Request)
	status   string // the status answer's body
	states   []string
	bodies   []map[string]string
	auth     []string
	metaHits int
}

func newFakeTransmitter(t *testing.T) *fakeTransmitter {
	t.Helper()
	f := &fakeTransmitter{status: `{"stream_id":"` + testStreamID + `","status":"enabled"}`}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		switch {
		case r.URL.Path == "/.well-known/ssf-configuration" && r.Method == http.MethodGet:
			f.mu.Lock()
			f.metaHits++
			doc := f.metadata
			f.mu.Unlock()
			if doc == "" {
				doc = `{"issuer":"` + testIssuer + `","verification_endpoint":"` + f.srv.URL + `/verify","status_endpoint":"` + f.srv.URL + `/status"}`
			}
			_, _ = io.WriteString(w, doc)
		case r.URL.Path == "/verify" && r.Method == http.MethodPost:
			var body map[string]string
			_ = json.NewDecoder(r.Body).Decode(&body)
			f.mu.Lock()
			f.bodies = append(f.bodies, body)
			f.states = append(f.states, body["state"])
			answer := f.verify
			f.mu.Unlock()
			if answer != nil {
				answer(w, r)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/status" && r.Method == http.MethodGet && r.URL.Query().Get("stream_id") == testStreamID:
			f.mu.Lock()
			body := f.status
			f.mu.Unlock()
			_, _ = io.WriteString(w, body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTransmitter) set(edit func(f *fakeTransmitter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f)
}

func (f *fakeTransmitter) lastState() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) == 0 {
		return ""
	}
	return f.states[len(f.states)-1]
}

func (f *fakeTransmitter) api(t *testing.T, edit ...func(*StreamAPIOptions)) *StreamAPI {
	t.Helper()
	opts := StreamAPIOptions{Issuer: testIssuer, ConfigurationURL: f.srv.URL + "/.well-known/ssf-configuration",
		StreamID: testStreamID, Authorization: testCredential, Timeout: verificationDelay}
	for _, e := range edit {
		e(&opts)
	}
	api, err := NewStreamAPI(opts)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// verificationSET is the verification event the transmitter sends back
// with state, about the stream.
func verificationSET(key *testKey, state string) string {
	return key.sign(claims(EventVerification, map[string]any{"state": state},
		map[string]any{"format": "opaque", "id": testStreamID}))
}

// twoTransmitters is a receiver of testIssuer and testOtherIssuer, both
// signing with key.
func twoTransmitters(t *testing.T, st store.Store, key *testKey) *Receiver {
	t.Helper()
	keys := keySource(t, key)
	r, err := NewReceiver(ReceiverOptions{Store: st, Transmitters: []Transmitter{
		{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: keys, StreamID: testStreamID},
		{Issuer: testOtherIssuer, Audiences: []string{testAudience}, Keys: keys},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRequestedVerificationIsAcceptedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFakeTransmitter(t)
	key := newECKey(t, "k")
	r := twoTransmitters(t, store.NewMemory(), key)
	api := f.api(t)

	expires, err := r.RequestVerification(ctx, api, time.Minute)
	if err != nil || !expires.After(time.Now()) {
		t.Fatalf("%v %v", expires, err)
	}
	state := f.lastState()
	if len(state) < 40 || f.bodies[0]["stream_id"] != testStreamID || f.auth[len(f.auth)-1] != testCredential {
		t.Fatalf("the transmitter got %v with %q", f.bodies, f.auth)
	}
	// Another transmitter's event cannot spend it.
	other := claims(EventVerification, map[string]any{"state": state}, map[string]any{"format": "opaque", "id": "x"})
	other["iss"] = testOtherIssuer
	if _, err := r.Receive(ctx, push(key.sign(other))); !errors.Is(err, ErrState) {
		t.Fatalf("another transmitter's event with the state: %v", err)
	}
	a, err := r.Receive(ctx, push(verificationSET(key, state)))
	if err != nil || a.Decision.State != state {
		t.Fatalf("the awaited event: %+v %v", a, err)
	}
	if s, err := r.RecordStream(ctx, a); err != nil || s.VerifiedAt.IsZero() {
		t.Fatalf("%+v %v", s, err)
	}
	// A second event with the state (a new jti: a replay of the state).
	if _, err := r.Receive(ctx, push(verificationSET(key, state))); !errors.Is(err, ErrState) {
		t.Fatalf("the state again: %v", err)
	}
	// A state never asked for.
	if _, err := r.Receive(ctx, push(verificationSET(key, state+"x"))); !errors.Is(err, ErrState) {
		t.Fatalf("a state never asked for: %v", err)
	}
	// The metadata was read once for one call.
	if f.metaHits != 1 {
		t.Fatalf("metadata read %d times", f.metaHits)
	}
}

func TestAStateAskedOfOneTransmitterIsRefusedFromAnother(t *testing.T) {
	ctx := context.Background()
	f := newFakeTransmitter(t)
	f.set(func(f *fakeTransmitter) {
		f.metadata = `{"issuer":"` + testOtherIssuer + `","verification_endpoint":"` + f.srv.URL + `/verify"}`
	})
	key := newECKey(t, "k")
	r := twoTransmitters(t, store.NewMemory(), key)
	api := f.api(t, func(o *StreamAPIOptions) { o.Issuer = testOtherIssuer })
	if _, err := r.RequestVerification(ctx, api, time.Minute); err != nil {
		t.Fatal(err)
	}
	// testIssuer's event carrying the state asked of testOtherIssuer.
	if _, err := r.Receive(ctx, push(verificationSET(key, f.lastState()))); !errors.Is(err, ErrState) {
		t.Fatalf("another transmitter's state: %v", err)
	}
}

func TestAStatePastItsTTLIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFakeTransmitter(t)
	key := newECKey(t, "k")
	r := twoTransmitters(t, store.NewMemory(), key)
	if _, err := r.RequestVerification(ctx, f.api(t), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the state's TTL
	if _, err := r.Receive(ctx, push(verificationSET(key, f.lastState()))); !errors.Is(err, ErrState) {
		t.Fatalf("a state past its TTL: %v", err)
	}
}

func TestAFailedVerificationRequestForgetsItsState(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	for name, answer := range map[string]func(w http.ResponseWriter, r *http.Request){
		"400": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) },
		"401": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		"404": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) },
		"429": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTooManyRequests) },
		"500": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
		"redirect": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "/verify2")
			w.WriteHeader(http.StatusTemporaryRedirect)
		},
		"slow": func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeTransmitter(t)
			f.set(func(f *fakeTransmitter) { f.verify = answer })
			st := newKeysStore()
			r := twoTransmitters(t, st, key)
			_, err := r.RequestVerification(ctx, f.api(t), time.Minute)
			te, ok := errors.AsType[*TransmitterError](err)
			if !ok {
				t.Fatalf("%v", err)
			}
			if strings.Contains(te.Message, "stream-secret") || strings.Contains(err.Error(), "stream-secret") {
				t.Fatalf("the credential in the error: %v", err)
			}
			if st.Len() != 0 {
				t.Fatalf("%d keys left in the store", st.Len())
			}
			if _, err := r.Receive(ctx, push(verificationSET(key, f.lastState()))); !errors.Is(err, ErrState) {
				t.Fatalf("the state of a failed request: %v", err)
			}
		})
	}
}

func TestTheTransmittersMetadataIsChecked(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	for name, doc := range map[string]string{
		"another issuer":       `{"issuer":"https://evil.example.com/","verification_endpoint":"https://idp.example.com/verify"}`,
		"no issuer":            `{"verification_endpoint":"https://idp.example.com/verify"}`,
		"plain http":           `{"issuer":"` + testIssuer + `","verification_endpoint":"http://idp.example.com/verify"}`,
		"not a string":         `{"issuer":"` + testIssuer + `","verification_endpoint":5}`,
		"duplicate members":    `{"issuer":"` + testIssuer + `","issuer":"` + testIssuer + `"}`,
		"garbage":              `<html>`,
		"no verification":      `{"issuer":"` + testIssuer + `"}`,
		"verification is ftp":  `{"issuer":"` + testIssuer + `","verification_endpoint":"ftp://idp.example.com/verify"}`,
		"issuer with a slash+": `{"issuer":"` + testIssuer + `x","verification_endpoint":"https://idp.example.com/verify"}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeTransmitter(t)
			f.set(func(f *fakeTransmitter) { f.metadata = doc })
			r := twoTransmitters(t, store.NewMemory(), key)
			_, err := r.RequestVerification(ctx, f.api(t), time.Minute)
			if err == nil {
				t.Fatal("accepted")
			}
			if len(f.bodies) != 0 {
				t.Fatalf("the verification endpoint was called: %v", f.bodies)
			}
		})
	}
	if _, err := NewStreamAPI(StreamAPIOptions{Issuer: testIssuer, StreamID: "s", ConfigurationURL: "http://idp.example.com/.well-known/ssf-configuration"}); err == nil {
		t.Fatal("a configuration_url of plain http off loopback accepted")
	}
	if _, err := NewStreamAPI(StreamAPIOptions{Issuer: testIssuer, ConfigurationURL: "https://idp.example.com/.well-known/ssf-configuration"}); err == nil {
		t.Fatal("no stream_id accepted")
	}
	r := twoTransmitters(t, store.NewMemory(), key)
	if _, err := r.RequestVerification(ctx, nil, 0); !errors.Is(err, ErrNotManaged) {
		t.Fatalf("no API: %v", err)
	}
}

func TestTheTransmittersStatus(t *testing.T) {
	ctx := context.Background()
	f := newFakeTransmitter(t)
	api := f.api(t)
	rs, err := api.Status(ctx)
	if err != nil || rs.Status != "enabled" || rs.StreamID != testStreamID {
		t.Fatalf("%+v %v", rs, err)
	}
	f.set(func(f *fakeTransmitter) {
		f.status = `{"stream_id":"` + testStreamID + `","status":"disabled","reason":"admin"}`
	})
	if rs, err := api.Status(ctx); err != nil || rs.Status != "disabled" || rs.Reason != "admin" {
		t.Fatalf("%+v %v", rs, err)
	}
	for name, body := range map[string]string{
		"another stream": `{"stream_id":"stream-2","status":"enabled"}`,
		"unknown status": `{"stream_id":"` + testStreamID + `","status":"running"}`,
		"no status":      `{"stream_id":"` + testStreamID + `"}`,
		"garbage":        `enabled`,
		"reason number":  `{"status":"enabled","reason":1}`,
	} {
		f.set(func(f *fakeTransmitter) { f.status = body })
		if _, err := api.Status(ctx); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A failed call reads the metadata again the next time.
	if f.metaHits < 2 {
		t.Fatalf("metadata read %d times", f.metaHits)
	}
	f.set(func(f *fakeTransmitter) { f.metadata = `{"issuer":"` + testIssuer + `"}` })
	if _, err := api.Status(ctx); !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("no status endpoint: %v", err)
	}
}

func TestStreamChangesAreTold(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	type change struct{ issuer, previous, now string }
	var changes []change
	r, err := NewReceiver(ReceiverOptions{Store: store.NewMemory(), Transmitters: []Transmitter{
		{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: keySource(t, key)}},
		StreamChanged: func(issuer, previous string, now StreamState) {
			changes = append(changes, change{issuer, previous, now.Status})
		}})
	if err != nil {
		t.Fatal(err)
	}
	stream := map[string]any{"format": "opaque", "id": "st"}
	for _, status := range []string{"disabled", "disabled", "enabled"} {
		a, err := r.Receive(ctx, push(key.sign(claims(EventStreamUpdated, map[string]any{"status": status}, stream))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.RecordStream(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	want := []change{{testIssuer, "enabled", "disabled"}, {testIssuer, "disabled", "enabled"}}
	if len(changes) != 2 || changes[0] != want[0] || changes[1] != want[1] {
		t.Fatalf("%+v", changes)
	}
	// A disabled stream's events are still applied: they withdraw access.
	a, err := r.Receive(ctx, push(key.sign(claims(EventStreamUpdated, map[string]any{"status": "disabled"}, stream))))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = r.RecordStream(ctx, a)
	if a, err := r.Receive(ctx, push(key.sign(claims(EventSessionRevoked, map[string]any{}, emailSubject("a@example.com"))))); err != nil || a.Decision.Action != ActionRevokeAccess {
		t.Fatalf("an event of a disabled stream: %+v %v", a, err)
	}
}
