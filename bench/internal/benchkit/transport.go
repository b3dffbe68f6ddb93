package benchkit

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sessionPrefix is left out of the labels: every endpoint timed lives
// under it, or is the protected API.
const sessionPrefix = "/v1/session"

// TimingTransport records each request's time from sending to the end of
// its body, labelled "<path after /v1/session> <status>", into the
// Recorder of the current phase (none: not recorded).
type TimingTransport struct {
	next  http.RoundTripper
	phase atomic.Pointer[Recorder]
}

// NewTimedClient returns an HTTP client for many users in parallel (a
// large idle pool, a 30 s timeout) whose requests go through the returned
// TimingTransport.
func NewTimedClient() (*http.Client, *TimingTransport) {
	tr := &TimingTransport{next: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr
}

// SetPhase makes rec the Recorder of the requests sent from now on; nil
// stops recording.
func (t *TimingTransport) SetPhase(rec *Recorder) { t.phase.Store(rec) }

// RoundTrip sends req and, within a phase, times it until its body is
// closed.
func (t *TimingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	rec := t.phase.Load()
	if err != nil || rec == nil {
		return resp, err
	}
	label := fmt.Sprintf("%s %d", strings.TrimPrefix(req.URL.Path, sessionPrefix), resp.StatusCode)
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() { rec.Add(label, time.Since(start)) }}
	return resp, nil
}

// timedBody reports once, when the client closes the body after reading it.
type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}
