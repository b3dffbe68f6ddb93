package benchkit

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Recorder keeps latencies by label (endpoint and status, say) for one
// phase. It is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	byOp map[string][]time.Duration
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{byOp: map[string][]time.Duration{}} }

// Add records one latency under label.
func (r *Recorder) Add(label string, d time.Duration) {
	r.mu.Lock()
	r.byOp[label] = append(r.byOp[label], d)
	r.mu.Unlock()
}

// Merge adds what from recorded under label to r's same label.
func (r *Recorder) Merge(from *Recorder, label string) {
	from.mu.Lock()
	ds := append([]time.Duration(nil), from.byOp[label]...)
	from.mu.Unlock()
	r.mu.Lock()
	r.byOp[label] = append(r.byOp[label], ds...)
	r.mu.Unlock()
}

// Take returns what r recorded so far and empties r, so that one
// long-lived server can report its own times phase by phase.
func (r *Recorder) Take() *Recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	taken := &Recorder{byOp: r.byOp}
	r.byOp = map[string][]time.Duration{}
	return taken
}

// Labels lists the recorded labels in order.
func (r *Recorder) Labels() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for l := range r.byOp {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Summary is the distribution of one label's latencies; all zero when
// nothing was recorded.
type Summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Summary returns the distribution of label, percentiles by nearest rank.
func (r *Recorder) Summary(label string) Summary {
	r.mu.Lock()
	ds := append([]time.Duration(nil), r.byOp[label]...)
	r.mu.Unlock()
	if len(ds) == 0 {
		return Summary{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	rank := func(q float64) time.Duration { // nearest rank
		i := int(q*float64(len(ds))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return ds[i]
	}
	return Summary{N: len(ds), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: ds[len(ds)-1]}
}

// MS formats a duration as milliseconds with two decimals, as the reports
// print them.
func MS(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
