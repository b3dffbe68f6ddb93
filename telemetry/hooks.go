package telemetry

import (
	"net/http"
	"strconv"
	"time"
)

// measuredTransport times delegation hook calls.
type measuredTransport struct{ next http.RoundTripper }

// MeasureHooks wraps the delegation hook client's transport so that every
// call is timed by its status class (caddy_stepup_hook_request_seconds:
// 2xx, 4xx, 5xx, or error when no answer came).
func MeasureHooks(next http.RoundTripper) http.RoundTripper {
	return measuredTransport{next: next}
}

func (t measuredTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	hookSeconds.WithLabelValues(status).Observe(time.Since(start).Seconds())
	return resp, err
}
