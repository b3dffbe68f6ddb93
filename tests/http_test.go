package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// newClient has its own connection pool: ports are reused between tests,
// and a kept-alive connection to a stopped caddy must not be picked up.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// answer is one response read whole, with what the assertions look at.
type answer struct {
	status  int
	header  http.Header
	wwwAuth string // the challenge without its resource_metadata
	// resourceMetadata is the challenge's resource_metadata (RFC 9728).
	resourceMetadata string
	cache            string
	body             []byte
	code             string // of a JSON error body
}

// fetch sends a request without a body and reads the whole answer.
func fetch(t *testing.T, client *http.Client, method, url string, header http.Header) answer {
	t.Helper()
	return fetchBody(t, client, method, url, header, nil)
}

// fetchBody is fetch with a request body.
func fetchBody(t *testing.T, client *http.Client, method, url string, header http.Header, body []byte) answer {
	t.Helper()
	a, err := tryFetch(t, client, method, url, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryFetch is fetchBody that returns the error of a request that got no
// answer.
func tryFetch(t *testing.T, client *http.Client, method, url string, header http.Header, body []byte) (answer, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, cache: resp.Header.Get("Cache-Control"), body: raw}
	a.wwwAuth, a.resourceMetadata = splitChallenge(t, resp.Header.Get("WWW-Authenticate"))
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &e)
	a.code = e.Code
	return a, nil
}

// splitChallenge cuts the resource_metadata parameter off a gateway's
// challenge, which every challenge of a protected resource ends with (RFC 9728
// §5.1); such a challenge without one fails the test. The admin routes' key
// challenge (realm "stepup-admin") guards no OAuth resource and has none.
func splitChallenge(t *testing.T, challenge string) (rest, resourceMetadata string) {
	t.Helper()
	if challenge == "" || challenge == `Bearer realm="stepup-admin"` {
		return challenge, ""
	}
	i := strings.LastIndex(challenge, `, resource_metadata="`)
	if i < 0 || !strings.HasSuffix(challenge, `"`) {
		t.Errorf("a challenge without resource_metadata: %q", challenge)
		return challenge, ""
	}
	return challenge[:i], strings.TrimSuffix(challenge[i+len(`, resource_metadata="`):], `"`)
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}
