package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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
	wwwAuth string
	cache   string
	body    []byte
	code    string // of a JSON error body
}

// fetch sends a request without a body and reads the whole answer.
func fetch(t *testing.T, client *http.Client, method, url string, header http.Header) answer {
	t.Helper()
	return fetchBody(t, client, method, url, header, nil)
}

// fetchBody is fetch with a request body.
func fetchBody(t *testing.T, client *http.Client, method, url string, header http.Header, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, wwwAuth: resp.Header.Get("WWW-Authenticate"), cache: resp.Header.Get("Cache-Control"), body: raw}
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &e)
	a.code = e.Code
	return a
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}
