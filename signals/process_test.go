package signals

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// fakeRecorder keeps what was counted: "event outcome effect".
type fakeRecorder struct{ got []string }

func (r *fakeRecorder) Signal(event, outcome, effect string) {
	r.got = append(r.got, strings.TrimSpace(event+" "+outcome+" "+effect))
}

func pushRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/ssf/events", strings.NewReader(body))
	r.Header.Set("Content-Type", MediaType)
	return r
}

// TestServePush answers RFC 8935's way: 202 with no body for an accepted
// SET and for its retry, 400 with the error code for a refused one, 503
// with Retry-After when the list cannot record it, and the retry after
// that acts on it.
func TestServePush(t *testing.T) {
	key, forger := newECKey(t, "k"), newECKey(t, "k")
	receiver := newTestReceiver(t, store.NewMemory(), keySource(t, key))
	rec, list := &fakeRecorder{}, &fakeRevoker{}
	p := &Processor{Recorder: rec, Logger: zap.NewNop()}
	g := testGateway(newEngine(), list)
	set := key.sign(claims(EventSessionRevoked, map[string]any{}, emailSubject("a@example.com")))
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		p.ServePush(w, r, g, receiver)
		return w
	}

	list.fail = errors.New("down")
	if w := serve(pushRequest(set)); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" || w.Body.Len() != 0 {
		t.Fatalf("list down: %d %v %q", w.Code, w.Header(), w.Body)
	}
	list.fail = nil
	for range 2 { // the retry acts; the next one is a duplicate
		if w := serve(pushRequest(set)); w.Code != http.StatusAccepted || w.Body.Len() != 0 {
			t.Fatalf("accepted: %d %q", w.Code, w.Body)
		}
	}
	w := serve(pushRequest(forger.sign(claims(EventSessionRevoked, map[string]any{}, emailSubject("a@example.com")))))
	if w.Code != http.StatusBadRequest || w.Body.String() != `{"description":"`+ErrKey.Description+`","err":"invalid_key"}` {
		t.Fatalf("forged: %d %s", w.Code, w.Body)
	}
	twoTypes := pushRequest(set)
	twoTypes.Header.Add("Content-Type", MediaType)
	if w := serve(twoTypes); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"err":"invalid_request"`) {
		t.Fatalf("two Content-Types: %d %s", w.Code, w.Body)
	}
	want := []string{"caep.session-revoked unavailable", "caep.session-revoked accepted sessions_ended=2 revocations=1 grants_dropped_users=0 unmatched=0",
		"caep.session-revoked duplicate", "unknown invalid_key", "unknown invalid_request"}
	if !reflect.DeepEqual(rec.got, want) || len(list.entries) != 1 || list.entries[0].Value != "usr_a" {
		t.Fatalf("recorded %q, entries %+v", rec.got, list.entries)
	}
}

// TestPollOnce acknowledges what was accepted, reports what was refused,
// and leaves what could not be processed for the transmitter to deliver
// again.
func TestPollOnce(t *testing.T) {
	ctx := context.Background()
	key, forger := newECKey(t, "k"), newECKey(t, "k")
	receiver := newTestReceiver(t, store.NewMemory(), keySource(t, key))
	good := claims(EventCredentialChange, map[string]any{"credential_type": "password", "change_type": "update"}, emailSubject("a@example.com"))
	forged := claims(EventAccountPurged, map[string]any{}, emailSubject("b@example.com"))
	tx := &pollTransmitter{refused: map[string]string{}, queue: map[string]string{
		good["jti"].(string): key.sign(good), forged["jti"].(string): forger.sign(forged)}}
	srv := httptest.NewServer(tx)
	defer srv.Close()
	poller := NewPoller(PollerOptions{URL: srv.URL})
	e := newEngine()
	e.fail = errors.New("down")
	p := &Processor{Recorder: &fakeRecorder{}, Logger: zap.NewNop()}
	if more := p.PollOnce(ctx, poller, testGateway(e, &fakeRevoker{}), receiver, zap.NewNop()); more {
		t.Fatal("more after a failure")
	}
	e.fail = nil
	p.PollOnce(ctx, poller, testGateway(e, &fakeRevoker{}), receiver, zap.NewNop())
	p.PollOnce(ctx, poller, testGateway(e, &fakeRevoker{}), receiver, zap.NewNop())
	if !reflect.DeepEqual(tx.acked, []string{good["jti"].(string)}) || tx.refused[forged["jti"].(string)] != CodeInvalidKey ||
		!reflect.DeepEqual(e.ended, []string{"usr_a"}) {
		t.Fatalf("acked %v refused %v ended %v", tx.acked, tx.refused, e.ended)
	}
}

// TestPollEvery polls again at once while more is waiting (an interval
// of an hour is never waited for), and returns when its context ends.
func TestPollEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	done := make(chan struct{})
	go func() {
		PollEvery(ctx, time.Hour, func(context.Context) bool {
			calls++
			if calls == 3 {
				cancel()
			}
			return true
		})
		close(done)
	}()
	<-done
	if calls < 3 {
		t.Fatalf("%d polls", calls)
	}
}

var _ Revoker = (*revocation.List)(nil)
