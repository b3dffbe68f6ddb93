package tests

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ssfTransmitter is the other side of the Shared Signals wire, written
// from the specifications: an identity provider that signs its access
// tokens and its Security Event Tokens (RFC 8417) RS256 with one key,
// serves that key at /jwks.json, and pushes SETs as RFC 8935 says: POST,
// Content-Type application/secevent+jwt, Accept application/json, the
// stream's Authorization header.
type ssfTransmitter struct {
	srv    *httptest.Server
	issuer string
	key    *rsa.PrivateKey
	kid    string
	// authorization is the header value pushes carry ("" for none).
	authorization string
	jti           atomic.Int64

	// The poll endpoint (RFC 8936) at /poll: SETs queued until the
	// receiver acknowledges them or names them in setErrs.
	mu        sync.Mutex
	queue     map[string]string
	acked     map[string]bool
	setErrs   map[string]string
	pollToken string // the Authorization a poll must carry

	// The stream management API (SSF 1.0 §7, §8.1): configuration
	// metadata at /.well-known/ssf-configuration, verification requests
	// at /verify (their states kept; answered verifyStatus, 204 when 0),
	// the stream's status at /status. Both need streamToken.
	streamID     string
	streamToken  string
	streamStatus string
	verifyStatus int
	states       []string
}

func newSSFTransmitter(t *testing.T) *ssfTransmitter {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tr := &ssfTransmitter{key: key, kid: "ssf-1", queue: map[string]string{}, acked: map[string]bool{}, setErrs: map[string]string{}}
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/poll":
			tr.poll(w, r)
			return
		case "/.well-known/ssf-configuration", "/verify", "/status":
			tr.streamAPI(w, r)
			return
		}
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "kid": tr.kid, "use": "sig", "alg": "RS256",
			"n": b64.EncodeToString(key.N.Bytes()), "e": "AQAB",
		}}})
	}))
	t.Cleanup(tr.srv.Close)
	tr.issuer = tr.srv.URL + "/"
	return tr
}

// signWith signs claims under header with key (the transmitter's, or a
// forger's).
func signWith(key *rsa.PrivateKey, header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	return input + "." + b64.EncodeToString(sig)
}

// set is a SET's claims: one event about subject, for audience, issued
// now, with a fresh jti.
func (tr *ssfTransmitter) set(audience, event string, payload, subject map[string]any) map[string]any {
	return map[string]any{
		"iss": tr.issuer, "aud": audience, "iat": time.Now().Unix(),
		"jti": fmt.Sprintf("set-%d-%d", time.Now().UnixNano(), tr.jti.Add(1)), "txn": "txn-1",
		"sub_id": subject, "events": map[string]any{event: payload},
	}
}

// sign signs a SET's claims with the transmitter's key.
func (tr *ssfTransmitter) sign(claims map[string]any) string {
	return signWith(tr.key, map[string]any{"alg": "RS256", "kid": tr.kid, "typ": "secevent+jwt"}, claims)
}

// accessToken is an access token of the transmitter as identity provider
// (RFC 9068), for the gateway that trusts it.
func (tr *ssfTransmitter) accessToken(audience, sub, sid string) string {
	now := time.Now().Unix()
	return signWith(tr.key, map[string]any{"alg": "RS256", "kid": tr.kid, "typ": "at+jwt"}, map[string]any{
		"iss": tr.issuer, "aud": audience, "sub": sub, "sid": sid, "iat": now, "exp": now + 600,
		"jti": fmt.Sprintf("at-%d", tr.jti.Add(1)), "scope": "read",
	})
}

// pushed is a receiver's answer to a push.
type pushed struct {
	status int
	err    string // RFC 8935's err member
	body   string
}

// push posts a SET to endpoint as RFC 8935 §2 says.
func (tr *ssfTransmitter) push(t *testing.T, endpoint, set string) pushed {
	t.Helper()
	return tr.pushAs(t, endpoint, set, "application/secevent+jwt", tr.authorization)
}

// pushAs posts with the given Content-Type and Authorization.
func (tr *ssfTransmitter) pushAs(t *testing.T, endpoint, set, contentType, authorization string) pushed {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader([]byte(set)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := pushed{status: resp.StatusCode, body: string(raw)}
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	if resp.StatusCode == http.StatusBadRequest {
		if err := json.Unmarshal(raw, &e); err != nil || e.Err == "" || e.Description == "" ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("a 400 not in RFC 8935's shape: %s (%s)", raw, resp.Header.Get("Content-Type"))
		}
		p.err = e.Err
	}
	if resp.StatusCode == http.StatusAccepted && len(raw) != 0 {
		t.Errorf("a 202 with a body: %q", raw)
	}
	return p
}

// queueSET queues a signed SET for the poll endpoint.
func (tr *ssfTransmitter) queueSET(jti, set string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.queue[jti] = set
}

// pollState reports what the receiver said of a queued SET.
func (tr *ssfTransmitter) pollState(jti string) (acked bool, setErr string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.acked[jti], tr.setErrs[jti]
}

// poll answers one RFC 8936 poll: it takes the acknowledgements and
// errors, then hands out what is still queued.
func (tr *ssfTransmitter) poll(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ack       []string                     `json:"ack"`
		SetErrs   map[string]map[string]string `json:"setErrs"`
		MaxEvents int                          `json:"maxEvents"`
	}
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != tr.pollToken || json.NewDecoder(r.Body).Decode(&req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, jti := range req.Ack {
		tr.acked[jti] = true
		delete(tr.queue, jti)
	}
	for jti, e := range req.SetErrs {
		tr.setErrs[jti] = e["err"]
		delete(tr.queue, jti)
	}
	sets := map[string]string{}
	for jti, set := range tr.queue {
		if len(sets) < req.MaxEvents {
			sets[jti] = set
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"sets": sets, "moreAvailable": len(tr.queue) > len(sets)})
}

// streamAPI serves the stream management API: the metadata names the
// transmitter's issuer and its endpoints (SSF 1.0 §7.1); a verification
// request (§8.1.4.2) is a POST of {"stream_id", "state"} for our stream,
// answered 204; a status read (§8.1.2.1) a GET with ?stream_id=.
func (tr *ssfTransmitter) streamAPI(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if r.URL.Path == "/.well-known/ssf-configuration" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": tr.issuer, "jwks_uri": tr.issuer + "jwks.json",
			"delivery_methods_supported": []string{"urn:ietf:rfc:8935", "urn:ietf:rfc:8936"},
			"verification_endpoint":      tr.srv.URL + "/verify", "status_endpoint": tr.srv.URL + "/status",
			"spec_version": "1_0"})
		return
	}
	if r.Header.Get("Authorization") != tr.streamToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/verify" && r.Method == http.MethodPost:
		var req struct {
			StreamID string `json:"stream_id"`
			State    string `json:"state"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil || req.StreamID != tr.streamID {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		tr.states = append(tr.states, req.State)
		if tr.verifyStatus != 0 {
			w.WriteHeader(tr.verifyStatus)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/status" && r.Method == http.MethodGet && r.URL.Query().Get("stream_id") == tr.streamID:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"stream_id": tr.streamID, "status": tr.streamStatus})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// lastState is the state of the last verification request.
func (tr *ssfTransmitter) lastState() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.states) == 0 {
		return ""
	}
	return tr.states[len(tr.states)-1]
}
