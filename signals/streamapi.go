package signals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/jose"
)

// The receiver's side of a transmitter's stream management API (SSF 1.0
// §7 and §8.1): the transmitter's configuration metadata, the stream's
// status (§8.1.2.1) and the verification request (§8.1.4.2).

// Defaults and bounds of StreamAPIOptions.
const (
	DefaultStreamAPITimeout = 10 * time.Second
	maxStreamAPIBody        = 64 << 10
)

// StreamAPIOptions configure a StreamAPI.
type StreamAPIOptions struct {
	// Issuer is the transmitter's issuer: the metadata's issuer must be
	// exactly this (SSF 1.0 §7.2.3).
	Issuer string
	// ConfigurationURL is where the transmitter's configuration metadata
	// is (its /.well-known/ssf-configuration). https, or http on a
	// loopback address.
	ConfigurationURL string
	// StreamID is the receiver's stream at the transmitter. Required.
	StreamID string
	// Authorization is the header value every call carries (the
	// receiver's credential at the transmitter), "" for none. Never
	// logged, never in an error.
	Authorization string
	// Timeout bounds one call. Default 10s.
	Timeout time.Duration
	// Client sends the calls. Default: a client of its own. Redirects are
	// never followed, whatever the client: the credential goes to the
	// endpoints the metadata names and nowhere else.
	Client *http.Client
}

// Metadata is what the receiver uses of a transmitter's configuration
// metadata (SSF 1.0 §7.1). An endpoint the transmitter does not offer is "".
type Metadata struct {
	Issuer               string `json:"issuer"`
	VerificationEndpoint string `json:"verification_endpoint,omitempty"`
	StatusEndpoint       string `json:"status_endpoint,omitempty"`
}

// RemoteStatus is a stream's status as its transmitter reports it (SSF
// 1.0 §8.1.2.1).
type RemoteStatus struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// StreamAPI calls one transmitter's stream management API. It is safe for
// concurrent use.
type StreamAPI struct {
	opts   StreamAPIOptions
	client *http.Client

	mu   sync.Mutex
	meta *Metadata // nil until read; read again after a failed call
}

// ErrNoEndpoint: the transmitter's metadata offers no such endpoint.
var ErrNoEndpoint = errors.New("signals: the transmitter's configuration names no such endpoint")

// TransmitterError is a call to the transmitter that failed: Message says
// what happened in words fit for an operator (the status the transmitter
// answered, never the credential nor what the transmitter wrote).
type TransmitterError struct{ Message string }

func (e *TransmitterError) Error() string { return "signals: " + e.Message }

func transmitterError(format string, args ...any) error {
	return &TransmitterError{Message: fmt.Sprintf(format, args...)}
}

// NewStreamAPI checks opts and returns a StreamAPI. Nothing is called
// before the first use.
func NewStreamAPI(opts StreamAPIOptions) (*StreamAPI, error) {
	if opts.Issuer == "" || opts.StreamID == "" {
		return nil, errors.New("signals: a stream management API needs the issuer and the stream_id")
	}
	if err := urlcheck.HTTPSOrLoopback(opts.ConfigurationURL); err != nil {
		return nil, fmt.Errorf("signals: configuration_url: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultStreamAPITimeout
	}
	client := &http.Client{Timeout: opts.Timeout}
	if opts.Client != nil {
		c := *opts.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &StreamAPI{opts: opts, client: client}, nil
}

// StreamID is the stream the API manages.
func (s *StreamAPI) StreamID() string { return s.opts.StreamID }

// Metadata reads the transmitter's configuration metadata once, and again
// after a call to an endpoint it named failed.
func (s *StreamAPI) Metadata(ctx context.Context) (*Metadata, error) {
	s.mu.Lock()
	meta := s.meta
	s.mu.Unlock()
	if meta != nil {
		return meta, nil
	}
	status, body, err := s.call(ctx, http.MethodGet, s.opts.ConfigurationURL, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, transmitterError("the transmitter's configuration metadata answered %d", status)
	}
	meta, err = parseMetadata(body, s.opts.Issuer)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.meta = meta
	s.mu.Unlock()
	return meta, nil
}

// parseMetadata reads the metadata strictly: one JSON object, its issuer
// the configured one, its endpoints https (or http on loopback).
func parseMetadata(body []byte, issuer string) (*Metadata, error) {
	m, err := strictjson.ParseObject(body)
	if err != nil {
		return nil, transmitterError("the transmitter's configuration metadata is not one JSON object")
	}
	var meta Metadata
	got, _, err := jose.String(m, "issuer")
	if err != nil || got != issuer {
		return nil, transmitterError("the transmitter's configuration metadata names another issuer")
	}
	meta.Issuer = got
	for name, target := range map[string]*string{"verification_endpoint": &meta.VerificationEndpoint, "status_endpoint": &meta.StatusEndpoint} {
		v, present, err := jose.String(m, name)
		if err != nil {
			return nil, transmitterError("the transmitter's %s is not a string", name)
		}
		if !present {
			continue
		}
		if urlcheck.HTTPSOrLoopback(v) != nil {
			return nil, transmitterError("the transmitter's %s is not https (plain http is allowed on loopback only)", name)
		}
		*target = v
	}
	return &meta, nil
}

// forget drops the metadata read, so that the next call reads it again.
func (s *StreamAPI) forget() {
	s.mu.Lock()
	s.meta = nil
	s.mu.Unlock()
}

// RequestVerification asks the transmitter for a verification event
// carrying state (SSF 1.0 §8.1.4.2): POST {"stream_id", "state"}, answered
// 204 (any 2xx is taken as yes).
func (s *StreamAPI) RequestVerification(ctx context.Context, state string) error {
	meta, err := s.Metadata(ctx)
	if err != nil {
		return err
	}
	if meta.VerificationEndpoint == "" {
		return ErrNoEndpoint
	}
	body, _ := json.Marshal(map[string]string{"stream_id": s.opts.StreamID, "state": state})
	status, _, err := s.call(ctx, http.MethodPost, meta.VerificationEndpoint, body)
	if err != nil {
		s.forget()
		return err
	}
	if status < 200 || status > 299 {
		s.forget()
		return transmitterError("the transmitter's verification endpoint answered %d", status)
	}
	return nil
}

// Status asks the transmitter for the stream's status (SSF 1.0 §8.1.2.1):
// GET status_endpoint?stream_id=..., answered 200 with the stream's
// stream_id, status (enabled, paused, disabled) and optional reason.
func (s *StreamAPI) Status(ctx context.Context) (*RemoteStatus, error) {
	meta, err := s.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	if meta.StatusEndpoint == "" {
		return nil, ErrNoEndpoint
	}
	u, err := url.Parse(meta.StatusEndpoint)
	if err != nil {
		return nil, transmitterError("the transmitter's status_endpoint is not a URL")
	}
	q := u.Query()
	q.Set("stream_id", s.opts.StreamID)
	u.RawQuery = q.Encode()
	status, body, err := s.call(ctx, http.MethodGet, u.String(), nil)
	if err == nil && status != http.StatusOK {
		err = transmitterError("the transmitter's status endpoint answered %d", status)
	}
	var rs *RemoteStatus
	if err == nil {
		rs, err = s.parseStatus(body)
	}
	if err != nil {
		s.forget()
		return nil, err
	}
	return rs, nil
}

// parseStatus reads a status answer: the stream must be ours, its status
// one SSF defines.
func (s *StreamAPI) parseStatus(body []byte) (*RemoteStatus, error) {
	m, err := strictjson.ParseObject(body)
	if err != nil {
		return nil, transmitterError("the transmitter's status answer is not one JSON object")
	}
	var rs RemoteStatus
	var bad bool
	for name, target := range map[string]*string{"stream_id": &rs.StreamID, "status": &rs.Status, "reason": &rs.Reason} {
		v, _, err := jose.String(m, name)
		bad = bad || err != nil || len(v) > maxState
		*target = v
	}
	switch {
	case bad:
		return nil, transmitterError("the transmitter's status answer has a member of the wrong type")
	case rs.StreamID != "" && rs.StreamID != s.opts.StreamID:
		return nil, transmitterError("the transmitter's status answer is about another stream")
	case !validStatus(rs.Status):
		return nil, transmitterError("the transmitter's status answer has no status of SSF's (enabled, paused, disabled)")
	}
	rs.StreamID = s.opts.StreamID
	return &rs, nil
}

func validStatus(s string) bool { return s == "enabled" || s == "paused" || s == "disabled" }

// call sends one request with the credential and reads at most
// maxStreamAPIBody of the answer. A failure to reach the transmitter is a
// TransmitterError that says so without the transport's words (which may
// quote the URL, never the credential, but say nothing an operator needs).
func (s *StreamAPI) call(ctx context.Context, method, target string, body []byte) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return 0, nil, transmitterError("the transmitter's endpoint is not a URL")
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.opts.Authorization != "" {
		req.Header.Set("Authorization", s.opts.Authorization)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return 0, nil, transmitterError("the transmitter did not answer in time")
		}
		return 0, nil, transmitterError("the transmitter could not be reached")
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxStreamAPIBody+1))
	if err != nil || len(raw) > maxStreamAPIBody {
		return 0, nil, transmitterError("the transmitter's answer could not be read, or is too large")
	}
	return resp.StatusCode, raw, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
