package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/caddy-stepup/caddy-stepup/bench/internal/benchkit"
)

// plainCost is what one request proxied by plain Caddy (reverse_proxy to
// the same upstream, no stepup) costs that Caddy, in CPU: the unit a
// flow's gateway CPU is counted in.
type plainCost struct {
	n   int
	cpu []float64 // ms per request, per measurement
}

// plainRequests sends n POSTs like the protected call (same path, body and
// an Authorization header) to the plain Caddy, c in flight, and returns
// its CPU per request in ms.
func (b *bench) plainRequests(n int) (float64, error) {
	body := []byte(`{"amount":"500","currency":"USD"}`)
	var failed atomic.Int64
	var firstErr atomic.Value
	before := benchkit.CPUTime(b.cfg.plainPID)
	benchkit.Parallel(n, b.cfg.concurrency, func(int) {
		req, err := http.NewRequestWithContext(context.Background(), "POST", b.cfg.plain+"/api/transfers", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2lnbmF0dXJl")
			var resp *http.Response
			if resp, err = b.http.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		}
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
	})
	if failed.Load() > 0 {
		return 0, fmt.Errorf("plain reverse_proxy: %d of %d failed, first: %v", failed.Load(), n, firstErr.Load())
	}
	return float64(benchkit.CPUTime(b.cfg.plainPID)-before) / 1e6 / float64(n), nil
}

// median of the measurements (the mean of the middle two when even).
func (p *plainCost) median() float64 {
	s := slices.Sorted(slices.Values(p.cpu))
	switch {
	case len(s) == 0:
		return 0
	case len(s)%2 == 1:
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writePlainUnit reports the unpaced flows' gateway CPU in plain proxied
// requests.
func writePlainUnit(w io.Writer, p *plainCost, flows *flowResult, inFlight int) {
	unit := p.median()
	perFlow := flows.CPU.Seconds() * 1000 / float64(flows.n)
	fmt.Fprintf(w, "Plain `reverse_proxy` (Caddy without this module, to the same upstream, the protected call's method, path and body), %d requests %d in flight, measured before and after the unpaced flows: %s ms of its CPU per request (median %.3f). **A complete flow costs the gateway %.2f ms of CPU = %.1f plain proxied requests.**\n\n",
		p.n, inFlight, msList(p.cpu), unit, perFlow, perFlow/unit)
}

func msList(v []float64) string {
	out := ""
	for i, x := range v {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%.3f", x)
	}
	return out
}
