package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// recorder keeps latencies by label (endpoint and status) for one phase.
type recorder struct {
	mu   sync.Mutex
	byOp map[string][]time.Duration
}

func newRecorder() *recorder { return &recorder{byOp: map[string][]time.Duration{}} }

func (r *recorder) add(label string, d time.Duration) {
	r.mu.Lock()
	r.byOp[label] = append(r.byOp[label], d)
	r.mu.Unlock()
}

// labels lists the recorded labels in order.
func (r *recorder) labels() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for l := range r.byOp {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// summary is the distribution of one label.
type summary struct {
	n                   int
	p50, p90, p99, pmax time.Duration
}

func (r *recorder) summary(label string) summary {
	r.mu.Lock()
	ds := append([]time.Duration(nil), r.byOp[label]...)
	r.mu.Unlock()
	if len(ds) == 0 {
		return summary{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	rank := func(q float64) time.Duration { // nearest rank
		i := int(q*float64(len(ds))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return ds[i]
	}
	return summary{n: len(ds), p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), pmax: ds[len(ds)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// timingTransport records each request's time from sending to the end of
// its body, labelled "<path after /v1/session> <status>", into the
// recorder of the current phase.
type timingTransport struct {
	next  http.RoundTripper
	phase atomic.Pointer[recorder]
}

func (t *timingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	rec := t.phase.Load()
	if err != nil || rec == nil {
		return resp, err
	}
	label := fmt.Sprintf("%s %d", strings.TrimPrefix(req.URL.Path, "/v1/session"), resp.StatusCode)
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() { rec.add(label, time.Since(start)) }}
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
