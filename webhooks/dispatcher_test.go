package webhooks

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// testKey is one generated PSS key for the package's tests, and the JWKS
// the gateway would publish with it.
var testKey, testJWKS = func() (*jwks.PSSSigner, []byte) {
	k, err := jwks.GeneratePSSSigner()
	if err != nil {
		panic(err)
	}
	doc, err := jwks.PublicJWKS(k)
	if err != nil {
		panic(err)
	}
	return k, doc
}()

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is the app's backend: it records every request and answers
// with the next status of its script (200 once the script is spent).
// Handlers block while gate is closed.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	script []int
	gate   chan struct{} // nil: answer at once
}

func newReceiver(t *testing.T, script ...int) *receiver {
	t.Helper()
	rcv := &receiver{script: script}
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		rcv.got = append(rcv.got, received{header: r.Header.Clone(), body: body})
		status := http.StatusOK
		if len(rcv.script) > 0 {
			status, rcv.script = rcv.script[0], rcv.script[1:]
		}
		gate := rcv.gate
		rcv.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rcv.srv.Close)
	return rcv
}

func (rcv *receiver) requests() []received {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]received(nil), rcv.got...)
}

// fakeClock runs retries when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	wait    time.Duration
	f       func()
	stopped bool
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &fakeTimer{wait: d, f: f}
	c.timers = append(c.timers, tm)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

// fire runs the oldest timer not yet run or stopped and returns its wait.
func (c *fakeClock) fire(t *testing.T) time.Duration {
	t.Helper()
	c.mu.Lock()
	for _, tm := range c.timers {
		if !tm.stopped {
			tm.stopped = true
			c.mu.Unlock()
			tm.f()
			return tm.wait
		}
	}
	c.mu.Unlock()
	t.Fatal("no retry is scheduled")
	return 0
}

// reports collects a dispatcher's reports.
type reports chan Report

// next waits for the next report of outcome (others are skipped); the
// bound only turns a hang into a failure.
func (r reports) next(t *testing.T, outcome string) Report {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case rep := <-r:
			if rep.Outcome == outcome {
				return rep
			}
		case <-deadline:
			t.Fatalf("no %s report", outcome)
		}
	}
}

// until counts reports into got until it holds at least want.
func (r reports) until(t *testing.T, got, want map[string]int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		done := true
		for o, n := range want {
			if got[o] < n {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case rep := <-r:
			got[rep.Outcome]++
		case <-deadline:
			t.Fatalf("reports %v, waiting for %v", got, want)
		}
	}
}

// count drains what is reported now and counts it by outcome.
func (r reports) count() map[string]int {
	out := map[string]int{}
	for {
		select {
		case rep := <-r:
			out[rep.Outcome]++
		default:
			return out
		}
	}
}

// newTestDispatcher starts a dispatcher for endpoints with o's settings.
func newTestDispatcher(t *testing.T, o Options, endpoints ...Endpoint) (*Dispatcher, reports) {
	t.Helper()
	reps := make(reports, 10000)
	o.AppID, o.Endpoints, o.Signer = "app-1", endpoints, testKey
	o.Report = func(r Report) { reps <- r }
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Stop)
	return d, reps
}

var loginEvent = stepup.UserEvent{Kind: stepup.SessionCreated, UserID: "usr_1", SessionID: "ses_1", Method: "otp", At: eventTime,
	Identifiers: []stepup.Identifier{{Type: stepup.IdentifierPhone, Value: "+33612345678"}}}

// verifyLikeAReceiver checks a request the way the README tells a receiver
// to: the key named by X-Webhook-Signature-Key-Id, found in the gateway's
// JWKS with jwx, verifies the body's PS256 signature.
func verifyLikeAReceiver(t *testing.T, r received) {
	t.Helper()
	set, err := jwk.Parse(testJWKS)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := set.LookupKeyID(r.header.Get(HeaderKeyID))
	if !ok {
		t.Fatalf("kid %q is not in the JWKS", r.header.Get(HeaderKeyID))
	}
	if alg, _ := key.Algorithm(); alg.String() != "PS256" {
		t.Errorf("the key's alg is %v", alg)
	}
	var pub rsa.PublicKey
	if err := jwk.Export(key, &pub); err != nil {
		t.Fatal(err)
	}
	sig, ok := strings.CutPrefix(r.header.Get(HeaderSignature), SignaturePrefix)
	if !ok {
		t.Fatalf("signature header %q lacks %s", r.header.Get(HeaderSignature), SignaturePrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := jwsbb.VerifyRSA(&pub, r.body, raw, crypto.SHA256, true); err != nil {
		t.Errorf("the signature does not verify: %v", err)
	}
	if err := jwsbb.VerifyRSA(&pub, append([]byte(" "), r.body...), raw, crypto.SHA256, true); err == nil {
		t.Error("the signature verifies another body")
	}
}

// eventIDOf is the ID of the one event of a body.
func eventIDOf(t *testing.T, body []byte) string {
	t.Helper()
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil || len(env.Events) != 1 {
		t.Fatalf("body %s", body)
	}
	return env.Events[0].ID
}

// TestDeliverySignedAsPrelude: one POST, JSON, its signature verifiable
// with the gateway's JWKS, the HMAC of the endpoint's secret, a delivery
// ID; the request that notified never waits.
func TestDeliverySignedAsPrelude(t *testing.T) {
	rcv := newReceiver(t)
	secret := []byte("a shared secret of 32 characters")
	d, reps := newTestDispatcher(t, Options{}, Endpoint{URL: rcv.srv.URL + "/hooks?token=abc", Secret: secret})
	d.Notify(loginEvent)
	rep := reps.next(t, OutcomeDelivered)
	if rep.Type != "user.session.created" || rep.UserID != "usr_1" || rep.SessionID != "ses_1" || rep.Attempts != 1 || rep.Status != 200 {
		t.Errorf("report %+v", rep)
	}
	got := rcv.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	verifyLikeAReceiver(t, r)
	if r.header.Get("Content-Type") != "application/json" || len(r.header.Get(HeaderDeliveryID)) != 22 {
		t.Errorf("headers %v", r.header)
	}
	// The HMAC header: t=<unix>,v1=<hex>, over "<t>." + body.
	ts, mac, ok := strings.Cut(strings.TrimPrefix(r.header.Get(HeaderSharedSecret), "t="), ",v1=")
	if !ok {
		t.Fatalf("X-Stepup-Signature %q", r.header.Get(HeaderSharedSecret))
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("timestamp %q", ts)
	}
	want := SharedSecretSignature(secret, time.Unix(unix, 0), r.body)
	if !hmac.Equal([]byte(want), []byte(r.header.Get(HeaderSharedSecret))) || mac == "" {
		t.Errorf("HMAC %s, want %s", r.header.Get(HeaderSharedSecret), want)
	}
	if eventIDOf(t, r.body) == "" || !strings.Contains(string(r.body), `"+33612345678"`) {
		t.Errorf("body %s", r.body)
	}
}

// TestRetryKeepsTheEventID: a receiver that answers 500 and then 200 gets
// the event twice, with the same event ID and signature-checked bodies
// but two delivery IDs; the retry waits a jittered backoff on the
// injected clock.
func TestRetryKeepsTheEventID(t *testing.T) {
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
	clock := &fakeClock{}
	d, reps := newTestDispatcher(t, Options{Clock: clock, Backoff: time.Second, MaxBackoff: time.Minute}, Endpoint{URL: rcv.srv.URL})
	d.Notify(loginEvent)
	if rep := reps.next(t, OutcomeRetried); rep.Attempts != 1 || rep.Status != 500 {
		t.Errorf("retried %+v", rep)
	}
	if wait := clock.fire(t); wait < 500*time.Millisecond || wait > time.Second {
		t.Errorf("the first retry waits %s, want between 0.5s and 1s", wait)
	}
	if rep := reps.next(t, OutcomeDelivered); rep.Attempts != 2 {
		t.Errorf("delivered %+v", rep)
	}
	got := rcv.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	if eventIDOf(t, got[0].body) != eventIDOf(t, got[1].body) || string(got[0].body) != string(got[1].body) {
		t.Error("the retry sent another event")
	}
	if got[0].header.Get(HeaderDeliveryID) == got[1].header.Get(HeaderDeliveryID) {
		t.Error("two attempts share a delivery ID")
	}
	for _, r := range got {
		verifyLikeAReceiver(t, r)
	}
}

// TestBackoffDoublesUpToItsBoundThenGivesUp: waits of 1s, 2s, 4s, 8s, then
// 8s (the bound), and after the last attempt, no more.
func TestBackoffDoublesUpToItsBoundThenGivesUp(t *testing.T) {
	rcv := newReceiver(t, 500, 503, 502, 404, 500, 500)
	clock := &fakeClock{}
	d, reps := newTestDispatcher(t, Options{Clock: clock, Backoff: time.Second, MaxBackoff: 8 * time.Second, MaxAttempts: 6,
		Jitter: func(d time.Duration) time.Duration { return d }}, Endpoint{URL: rcv.srv.URL})
	d.Notify(loginEvent)
	for _, want := range []time.Duration{1, 2, 4, 8, 8} {
		reps.next(t, OutcomeRetried)
		if wait := clock.fire(t); wait != want*time.Second {
			t.Errorf("wait %s, want %s", wait, want*time.Second)
		}
	}
	if rep := reps.next(t, OutcomeFailed); rep.Attempts != 6 || rep.Status != 500 {
		t.Errorf("failed %+v", rep)
	}
	if n := len(rcv.requests()); n != 6 {
		t.Errorf("%d attempts, want 6", n)
	}
	clock.mu.Lock()
	defer clock.mu.Unlock()
	for _, tm := range clock.timers {
		if !tm.stopped {
			t.Error("a retry is scheduled after the last attempt")
		}
	}
}

// TestFullQueueDropsAndNeverBlocks: a receiver that does not answer holds
// the only worker; a queue of 2 takes two events (the one in flight
// counts) and drops the others at once; the two arrive once it answers.
func TestFullQueueDropsAndNeverBlocks(t *testing.T) {
	rcv := newReceiver(t)
	rcv.gate = make(chan struct{})
	d, reps := newTestDispatcher(t, Options{QueueSize: 2, Workers: 1}, Endpoint{URL: rcv.srv.URL})
	for i := range 50 {
		ev := loginEvent
		ev.SessionID = "ses_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		d.Notify(ev) // returns: a blocking Notify would hang the test here
	}
	counts := reps.count()
	if counts[OutcomeQueued] != 2 || counts[OutcomeDropped] != 48 {
		t.Errorf("reports %v, want 2 queued and 48 dropped", counts)
	}
	close(rcv.gate)
	reps.next(t, OutcomeDelivered)
	reps.next(t, OutcomeDelivered)
	if n := len(rcv.requests()); n != 2 {
		t.Errorf("%d delivered, want 2", n)
	}
}

// TestEndpointsGetTheTypesTheyAskFor: each endpoint its own types, each
// its own delivery (and retries) of an event both want.
func TestEndpointsGetTheTypesTheyAskFor(t *testing.T) {
	sessions, everything := newReceiver(t, 500), newReceiver(t)
	clock := &fakeClock{}
	d, reps := newTestDispatcher(t, Options{Clock: clock},
		Endpoint{URL: sessions.srv.URL, Events: []string{stepup.SessionCreated, stepup.SessionRevoked}},
		Endpoint{URL: everything.srv.URL})
	d.Notify(stepup.UserEvent{Kind: stepup.UserCreated, UserID: "usr_1", At: eventTime})
	d.Notify(loginEvent)
	got := map[string]int{}
	reps.until(t, got, map[string]int{OutcomeRetried: 1}) // the sessions endpoint's first answer
	clock.fire(t)
	reps.until(t, got, map[string]int{OutcomeDelivered: 3})
	if got[OutcomeQueued] != 3 || got[OutcomeRetried] != 1 {
		t.Errorf("reports %v, want 3 deliveries queued and 1 retry", got)
	}
	if got := sessions.requests(); len(got) != 2 || !strings.Contains(string(got[1].body), "user.session.created") {
		t.Errorf("the sessions endpoint got %d requests", len(got))
	}
	if got := everything.requests(); len(got) != 2 {
		t.Errorf("the other endpoint got %d requests", len(got))
	}
}

// TestRedirectsAreNotFollowed: a 3xx is a failed attempt; the body never
// reaches where it points.
func TestRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := newReceiver(t)
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirecting.Close)
	d, reps := newTestDispatcher(t, Options{MaxAttempts: 1}, Endpoint{URL: redirecting.URL})
	d.Notify(loginEvent)
	if rep := reps.next(t, OutcomeFailed); rep.Status != http.StatusTemporaryRedirect {
		t.Errorf("failed %+v", rep)
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

// TestStopIsBounded: Stop discards the retries still waiting, cancels a
// request the receiver never answers once the drain timeout passes, and
// returns; a Notify afterwards is discarded without a request.
func TestStopIsBounded(t *testing.T) {
	hanging, failing := newReceiver(t), newReceiver(t, 500)
	hanging.gate = make(chan struct{}) // never opened
	clock := &fakeClock{}
	reps := make(reports, 100)
	d, err := New(Options{AppID: "app-1", Signer: testKey, Clock: clock, DrainTimeout: 50 * time.Millisecond,
		Endpoints: []Endpoint{{URL: hanging.srv.URL}, {URL: failing.srv.URL}}, Report: func(r Report) { reps <- r }})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	d.Notify(loginEvent)
	reps.next(t, OutcomeRetried) // the failing endpoint waits for its retry
	for deadline := time.Now().Add(20 * time.Second); len(hanging.requests()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the hanging receiver")
		}
		time.Sleep(time.Millisecond) // until the hanging request is in flight
	}
	d.Stop()
	counts := reps.count()
	if counts[OutcomeDiscarded] != 2 || counts[OutcomeDelivered] != 0 {
		t.Errorf("after Stop: %v, want both deliveries discarded", counts)
	}
	d.Notify(loginEvent)
	if counts := reps.count(); counts[OutcomeDiscarded] != 2 || counts[OutcomeQueued] != 0 {
		t.Errorf("a Notify after Stop: %v", counts)
	}
	if n := len(failing.requests()); n != 1 {
		t.Errorf("the failing endpoint got %d requests after Stop", n)
	}
	d.Stop() // again: nothing to do
}

func TestNewRefusals(t *testing.T) {
	for name, o := range map[string]Options{
		"no signer":       {Endpoints: []Endpoint{{URL: "https://b.test/"}}},
		"no endpoint":     {Signer: testKey},
		"relative URL":    {Signer: testKey, Endpoints: []Endpoint{{URL: "/hooks"}}},
		"ftp URL":         {Signer: testKey, Endpoints: []Endpoint{{URL: "ftp://b.test/"}}},
		"unknown event":   {Signer: testKey, Endpoints: []Endpoint{{URL: "https://b.test/", Events: []string{"user.deleted"}}}},
		"an engine event": {Signer: testKey, Endpoints: []Endpoint{{URL: "https://b.test/", Events: []string{"session.revoked"}}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "b.test") {
			t.Errorf("%s: the error quotes the URL: %v", name, err)
		}
	}
}

// BenchmarkNotify measures what a login pays for its webhook: the event,
// its body, and the non-blocking hand-over to an endpoint's queue.
func BenchmarkNotify(b *testing.B) {
	d, err := New(Options{AppID: "app-1", Signer: testKey, QueueSize: 1024, Endpoints: []Endpoint{{URL: "https://b.test/"}}})
	if err != nil {
		b.Fatal(err)
	}
	l := d.lanes[0]
	b.ReportAllocs()
	for b.Loop() {
		d.Notify(loginEvent)
		<-l.queue // what a worker takes
		l.pending.Add(-1)
	}
}

// TestOptionsValidate: the webhook settings' rules, with the defaults
// applied first; no error quotes an endpoint's URL.
func TestOptionsValidate(t *testing.T) {
	valid := func(change func(*Options)) Options {
		o := Options{AppID: "app-1", Endpoints: []Endpoint{{URL: "https://b.test/h?token=abc"}}}
		change(&o)
		return o
	}
	if err := valid(func(*Options) {}).Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"no app_id":          {valid(func(o *Options) { o.AppID = "" }), "app_id"},
		"app_id of 129":      {valid(func(o *Options) { o.AppID = strings.Repeat("a", 129) }), "app_id"},
		"no endpoint":        {valid(func(o *Options) { o.Endpoints = nil }), "at least one endpoint"},
		"no URL":             {valid(func(o *Options) { o.Endpoints[0].URL = "" }), "url is required"},
		"plain http":         {valid(func(o *Options) { o.Endpoints[0].URL = "http://b.test/h?token=abc" }), "must use https"},
		"not absolute":       {valid(func(o *Options) { o.Endpoints[0].URL = "b.test/h?token=abc" }), "not an absolute URL"},
		"one URL twice":      {valid(func(o *Options) { o.Endpoints = append(o.Endpoints, o.Endpoints[0]) }), "same URL twice"},
		"unknown event":      {valid(func(o *Options) { o.Endpoints[0].Events = []string{"user.deleted"} }), "unknown event"},
		"event twice":        {valid(func(o *Options) { o.Endpoints[0].Events = []string{"user.created", "user.created"} }), "listed twice"},
		"secret of 15":       {valid(func(o *Options) { o.Endpoints[0].Secret = []byte(strings.Repeat("s", 15)) }), "at least 16"},
		"timeout 500ms":      {valid(func(o *Options) { o.Timeout = 500 * time.Millisecond }), "timeout"},
		"negative attempts":  {valid(func(o *Options) { o.MaxAttempts = -1 }), "max_attempts"},
		"101 attempts":       {valid(func(o *Options) { o.MaxAttempts = 101 }), "max_attempts"},
		"backoff 1ms":        {valid(func(o *Options) { o.Backoff = time.Millisecond }), "backoff"},
		"max below backoff":  {valid(func(o *Options) { o.Backoff, o.MaxBackoff = time.Minute, time.Second }), "max_backoff"},
		"negative queue":     {valid(func(o *Options) { o.QueueSize = -1 }), "queue_size"},
		"65 workers":         {valid(func(o *Options) { o.Workers = 65 }), "workers"},
		"negative drain":     {valid(func(o *Options) { o.DrainTimeout = -time.Second }), "drain_timeout"},
		"drain of 2 minutes": {valid(func(o *Options) { o.DrainTimeout = 2 * time.Minute }), "drain_timeout"},
	} {
		err := tc.o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", name, err, tc.want)
		} else if strings.Contains(err.Error(), "abc") {
			t.Errorf("%s: the error quotes the URL: %v", name, err)
		}
		signed := tc.o
		signed.Signer = testKey
		if _, err := New(signed); err == nil {
			t.Errorf("%s: New accepted what Validate refuses", name)
		}
	}
	d := Options{}.WithDefaults()
	if d.Timeout != DefaultTimeout || d.MaxAttempts != DefaultMaxAttempts || d.Backoff != DefaultBackoff || d.MaxBackoff != DefaultMaxBackoff ||
		d.QueueSize != DefaultQueueSize || d.Workers != DefaultWorkers || d.DrainTimeout != DefaultDrainTimeout {
		t.Errorf("defaults %+v", d)
	}
}
