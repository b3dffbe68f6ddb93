package caddystepup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// The management calls change the config through Caddy's own config API,
// on Caddy's admin endpoint: a change is validated like any config, shows
// in GET /config/, is autosaved like any admin change, and a refused one
// changes nothing. Only apps.stepup is read and written, with the
// endpoint's Etag so that two changes at once cannot lose one another.

// appConfigPath is the one config path the management calls touch.
const appConfigPath = "/config/apps/stepup"

// Errors of a change Caddy did not apply. Caddy's own error text is never
// passed on: it may quote values the config resolved ({file.*}, {env.*}).
var (
	errConfigChanged = errors.New("apps.stepup changed since it was read")
	errConfigRefused = errors.New("caddy refused the new apps.stepup")
)

// configAPI reads and replaces apps.stepup as Caddy's admin endpoint holds
// it: as written, placeholders unresolved, defaults not filled in.
type configAPI interface {
	// getApp returns apps.stepup and its Etag.
	getApp(ctx context.Context) (doc []byte, etag string, err error)
	// postApp replaces apps.stepup if its Etag is still etag.
	postApp(ctx context.Context, doc []byte, etag string) error
}

// adminEndpoint is Caddy's admin endpoint, reached on its own listener.
type adminEndpoint struct {
	network, address string // what to dial
	host, origin     string // the Host and Origin the endpoint checks
}

// endpointOfRequest is the admin endpoint a request came in on (the
// admin.api.stepup routes): its listener, its Host and Origin. (net/http
// always sets the listener's address; without it, dialing fails.)
func endpointOfRequest(r *http.Request) *adminEndpoint {
	e := &adminEndpoint{network: "tcp", host: r.Host, origin: r.Header.Get("Origin")}
	if local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr); local != nil {
		e.network, e.address = local.Network(), local.String()
	}
	return e
}

// endpointAt is the admin endpoint at a listen address written as Caddy's
// `admin` option is (host:port, unix//path), reached as `caddy reload`
// reaches it.
func endpointAt(listen string) (*adminEndpoint, error) {
	addr, err := caddy.ParseNetworkAddress(listen)
	if err != nil {
		return nil, err
	}
	if addr.PortRangeSize() > 1 {
		return nil, errors.New("one port only")
	}
	switch {
	case addr.IsUnixNetwork():
		path, _, _ := strings.Cut(addr.Host, "|") // unix//path|0660: the mode is not part of the path
		return &adminEndpoint{network: addr.Network, address: path, host: "127.0.0.1"}, nil
	case addr.IsFdNetwork():
		return nil, errors.New("a file descriptor cannot be dialed")
	}
	hostport := addr.JoinHostPort(0)
	return &adminEndpoint{network: addr.Network, address: hostport, host: hostport, origin: "http://" + hostport}, nil
}

func (e *adminEndpoint) getApp(ctx context.Context) ([]byte, string, error) {
	resp, body, err := e.do(ctx, http.MethodGet, nil, "")
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: status %d", appConfigPath, resp.StatusCode)
	}
	return body, resp.Header.Get("Etag"), nil
}

func (e *adminEndpoint) postApp(ctx context.Context, doc []byte, etag string) error {
	resp, _, err := e.do(ctx, http.MethodPost, doc, etag)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusPreconditionFailed:
		return errConfigChanged
	}
	// Caddy answers a config it could not load with a 400 or a 500 (a
	// failed Provision or Start is no APIError); either way the running
	// config stays.
	return errConfigRefused
}

// do sends one request to the endpoint; a config load takes as long as
// the new config's apps take to start.
func (e *adminEndpoint) do(ctx context.Context, method string, body []byte, ifMatch string) (*http.Response, []byte, error) {
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, e.network, e.address)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+e.host+appConfigPath, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if e.origin != "" {
		req.Header.Set("Origin", e.origin)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, out, err
}
