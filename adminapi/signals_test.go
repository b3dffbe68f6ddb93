package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/signals"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const (
	ssfIssuer     = "https://ssf.idp.test/"
	ssfStream     = "stream-9"
	ssfCredential = "Bearer stream-credential-8d2e"
)

// ssfTransmitter is a transmitter's stream management API whose answers
// the test sets: verify answers the verification request, status the
// status endpoint.
type ssfTransmitter struct {
	srv *httptest.Server

	mu     sync.Mutex
	verify func(w http.ResponseWriter, r *http.Request)
	status func(w http.ResponseWriter, r *http.Request)
	asked  []map[string]string
	auth   []string
}

func newSSFTransmitter(t *testing.T) *ssfTransmitter {
	t.Helper()
	tr := &ssfTransmitter{}
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.auth = append(tr.auth, r.Header.Get("Authorization"))
		verify, status := tr.verify, tr.status
		tr.mu.Unlock()
		switch r.URL.Path {
		case "/.well-known/ssf-configuration":
			_, _ = io.WriteString(w, `{"issuer":"`+ssfIssuer+`","verification_endpoint":"`+tr.srv.URL+`/verify","status_endpoint":"`+tr.srv.URL+`/status"}`)
		case "/verify":
			var body map[string]string
			_ = json.NewDecoder(r.Body).Decode(&body)
			tr.mu.Lock()
			tr.asked = append(tr.asked, body)
			tr.mu.Unlock()
			if verify == nil {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			verify(w, r)
		case "/status":
			if status == nil {
				_, _ = io.WriteString(w, `{"stream_id":"`+r.URL.Query().Get("stream_id")+`","status":"paused","reason":"maintenance"}`)
				return
			}
			status(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(tr.srv.Close)
	return tr
}

func (tr *ssfTransmitter) set(verify, status func(w http.ResponseWriter, r *http.Request)) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.verify, tr.status = verify, status
}

// noKeys verifies nothing: these tests push no SET.
type noKeys struct{}

func (noKeys) LookupKey(context.Context, string) (*jwks.VerificationKey, error) {
	return nil, jwks.ErrInvalidToken
}

// oneStream serves one transmitter's receiver and API.
type oneStream struct {
	receiver *signals.Receiver
	api      *signals.StreamAPI
}

func (s oneStream) Stream(issuer string) (*signals.Receiver, *signals.StreamAPI, bool, error) {
	if issuer != ssfIssuer {
		return nil, nil, false, nil
	}
	return s.receiver, s.api, true, nil
}

// streamAPI is the admin API over a receiver of tr (managed when managed).
func streamAPI(t *testing.T, tr *ssfTransmitter, managed bool) *API {
	t.Helper()
	r, err := signals.NewReceiver(signals.ReceiverOptions{Store: store.NewMemory(), Transmitters: []signals.Transmitter{
		{Issuer: ssfIssuer, Audiences: []string{"https://gw.test/"}, Keys: noKeys{}, StreamID: ssfStream}}})
	if err != nil {
		t.Fatal(err)
	}
	s := oneStream{receiver: r}
	if managed {
		s.api, err = signals.NewStreamAPI(signals.StreamAPIOptions{Issuer: ssfIssuer, StreamID: ssfStream,
			ConfigurationURL: tr.srv.URL + "/.well-known/ssf-configuration", Authorization: ssfCredential, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{SignalStreams: s})
}

var (
	verifyPath = "/stepup/signals/" + url.PathEscape(ssfIssuer) + "/verify"
	streamPath = "/stepup/signals/" + url.PathEscape(ssfIssuer) + "/stream"
)

func TestVerifyAsksTheTransmitter(t *testing.T) {
	tr := newSSFTransmitter(t)
	api := streamAPI(t, tr, true)
	status, _, out := call(t, api, "POST", verifyPath, nil, "")
	if status != http.StatusAccepted || out["transmitter"] != ssfIssuer || out["stream_id"] != ssfStream || out["expires_at"] == nil {
		t.Fatalf("%d %v", status, out)
	}
	if len(tr.asked) != 1 || tr.asked[0]["stream_id"] != ssfStream || len(tr.asked[0]["state"]) < 40 || tr.auth[len(tr.auth)-1] != ssfCredential {
		t.Fatalf("the transmitter got %v with %v", tr.asked, tr.auth)
	}
	if _, ok := out["state"]; ok {
		t.Fatal("the state in the answer")
	}
	// A new state each time.
	call(t, api, "POST", verifyPath, nil, "")
	if len(tr.asked) != 2 || tr.asked[0]["state"] == tr.asked[1]["state"] {
		t.Fatalf("%v", tr.asked)
	}
}

func TestVerifyFailsClosedWhenTheTransmitterFails(t *testing.T) {
	tr := newSSFTransmitter(t)
	api := streamAPI(t, tr, true)
	for name, answer := range map[string]func(w http.ResponseWriter, r *http.Request){
		"400":  func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) },
		"401":  func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		"503":  func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
		"slow": func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
	} {
		tr.set(answer, nil)
		status, _, out := call(t, api, "POST", verifyPath, nil, "")
		refusal(t, name, status, out, http.StatusBadGateway)
		raw, _ := json.Marshal(out)
		if out["code"] != "transmitter_failed" || strings.Contains(string(raw), "credential-8d2e") {
			t.Errorf("%s: %s", name, raw)
		}
	}
	tr.set(nil, nil)
	if status, _, out := call(t, api, "POST", verifyPath, nil, ""); status != http.StatusAccepted {
		t.Fatalf("once the transmitter answers again: %d %v", status, out)
	}
}

func TestStreamSaysWhatIsRecordedAndWhatTheTransmitterSays(t *testing.T) {
	tr := newSSFTransmitter(t)
	api := streamAPI(t, tr, true)
	status, _, out := call(t, api, "GET", streamPath, nil, "")
	remote, _ := out["transmitter_status"].(map[string]any)
	if status != 200 || out["status"] != "enabled" || out["transmitter"] != ssfIssuer || remote["status"] != "paused" ||
		remote["reason"] != "maintenance" || remote["stream_id"] != ssfStream {
		t.Fatalf("%d %v", status, out)
	}
	for name, answer := range map[string]func(w http.ResponseWriter, r *http.Request){
		"500":     func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
		"garbage": func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html>") },
		"other": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"stream_id":"x","status":"enabled"}`)
		},
	} {
		tr.set(nil, answer)
		status, _, out := call(t, api, "GET", streamPath, nil, "")
		refusal(t, name, status, out, http.StatusBadGateway)
	}
	// Without a stream management API, what is recorded.
	status, _, out = call(t, streamAPI(t, tr, false), "GET", streamPath, nil, "")
	if status != 200 || out["status"] != "enabled" || out["transmitter_status"] != nil {
		t.Fatalf("%d %v", status, out)
	}
}

func TestStreamRoutesRefusals(t *testing.T) {
	tr := newSSFTransmitter(t)
	managed := streamAPI(t, tr, true)
	status, _, out := call(t, managed, "POST", "/stepup/signals/"+url.PathEscape("https://unknown.test/")+"/verify", nil, "")
	refusal(t, "unknown transmitter", status, out, http.StatusNotFound)
	status, _, out = call(t, streamAPI(t, tr, false), "POST", verifyPath, nil, "")
	refusal(t, "not managed", status, out, http.StatusConflict)
	status, hdr, out := call(t, managed, "GET", verifyPath, nil, "")
	refusal(t, "GET verify", status, out, http.StatusMethodNotAllowed)
	if hdr.Get("Allow") != "POST" {
		t.Errorf("Allow %q", hdr.Get("Allow"))
	}
	status, _, out = call(t, managed, "DELETE", streamPath, nil, "")
	refusal(t, "DELETE stream", status, out, http.StatusMethodNotAllowed)
	status, _, out = call(t, New(Config{}), "POST", verifyPath, nil, "")
	refusal(t, "no app", status, out, http.StatusServiceUnavailable)
	if len(tr.asked) != 0 {
		t.Fatalf("the transmitter was asked: %v", tr.asked)
	}
}
