package signals

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// pollTransmitter is an RFC 8936 poll endpoint: it hands out its queued
// SETs until they are acknowledged or refused, and keeps what the
// receiver said of each.
type pollTransmitter struct {
	mu       sync.Mutex
	queue    map[string]string
	acked    []string
	refused  map[string]string
	requests int
	authz    []string
}

func (p *pollTransmitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	p.authz = append(p.authz, r.Header.Get("Authorization"))
	var req struct {
		Ack               []string                     `json:"ack"`
		SetErrs           map[string]map[string]string `json:"setErrs"`
		MaxEvents         int                          `json:"maxEvents"`
		ReturnImmediately bool                         `json:"returnImmediately"`
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil || !req.ReturnImmediately {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, jti := range req.Ack {
		p.acked = append(p.acked, jti)
		delete(p.queue, jti)
	}
	for jti, e := range req.SetErrs {
		p.refused[jti] = e["err"]
		delete(p.queue, jti)
	}
	sets := map[string]string{}
	for jti, set := range p.queue {
		if len(sets) == req.MaxEvents {
			break
		}
		sets[jti] = set
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"sets": sets, "moreAvailable": len(p.queue) > len(sets)})
}

func TestPollDelivery(t *testing.T) {
	ctx := context.Background()
	key, forger := newECKey(t, "k"), newECKey(t, "k")
	r := newTestReceiver(t, store.NewMemory(), keySource(t, key), func(tr *Transmitter) { tr.Authorization = "Bearer push-only" })
	good := claims(EventSessionRevoked, map[string]any{}, emailSubject("a@example.com"))
	forged := claims(EventAccountPurged, map[string]any{}, emailSubject("b@example.com"))
	misfiled := claims(EventAccountPurged, map[string]any{}, emailSubject("c@example.com"))
	tx := &pollTransmitter{refused: map[string]string{}, queue: map[string]string{
		good["jti"].(string):       key.sign(good),
		forged["jti"].(string):     forger.sign(forged),
		"listed-under-another-jti": key.sign(misfiled),
	}}
	srv := httptest.NewServer(tx)
	defer srv.Close()
	p := NewPoller(PollerOptions{URL: srv.URL, Authorization: "Bearer receiver-token"})

	polled, err := p.Poll(ctx)
	if err != nil || len(polled.SETs) != 3 || polled.MoreAvailable {
		t.Fatalf("%+v %v", polled, err)
	}
	var decisions []*Decision
	for jti, set := range polled.SETs {
		a, err := r.ReceivePolled(ctx, jti, set)
		var refusal *Refusal
		switch {
		case err == nil:
			decisions = append(decisions, a.Decision)
			p.Ack(jti)
		case errors.As(err, &refusal):
			p.Refuse(jti, refusal)
		default:
			t.Fatalf("%s: %v", jti, err)
		}
	}
	if len(decisions) != 1 || decisions[0].Action != ActionRevokeAccess {
		t.Fatalf("decisions %+v", decisions)
	}
	// The next poll carries the acknowledgement and the errors; nothing is
	// left.
	polled, err = p.Poll(ctx)
	if err != nil || len(polled.SETs) != 0 {
		t.Fatalf("%+v %v", polled, err)
	}
	if len(tx.acked) != 1 || tx.acked[0] != good["jti"] || tx.refused[forged["jti"].(string)] != CodeInvalidKey ||
		tx.refused["listed-under-another-jti"] != CodeInvalidRequest || tx.authz[0] != "Bearer receiver-token" {
		t.Fatalf("acked %v refused %v authz %v", tx.acked, tx.refused, tx.authz)
	}
	// The same SET polled again (a transmitter that lost the ack) is a
	// duplicate.
	if _, err := r.ReceivePolled(ctx, good["jti"].(string), key.sign(good)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("polled twice: %v", err)
	}

	// A transmitter answering garbage, or an error: the acknowledgements
	// wait for the next poll.
	p.Ack("pending")
	for _, h := range []http.HandlerFunc{
		func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
		func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"moreAvailable":false}`)) },
		func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`not json`)) },
	} {
		bad := httptest.NewServer(h)
		p.opts.URL = bad.URL
		if _, err := p.Poll(ctx); !errors.Is(err, ErrPoll) {
			t.Errorf("%v", err)
		}
		bad.Close()
	}
	if len(p.ack) != 1 {
		t.Fatalf("acknowledgements lost: %v", p.ack)
	}
}
