package signals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Poll delivery (RFC 8936): the receiver asks the transmitter's endpoint
// for SETs, acknowledging in each request those it accepted and naming
// those it refused, in the next.

// Defaults of PollerOptions.
const (
	DefaultPollMaxEvents = 25
	DefaultPollTimeout   = 30 * time.Second
	maxPollBody          = 4 << 20
)

// PollerOptions configure a Poller.
type PollerOptions struct {
	// URL is the transmitter's poll endpoint (the stream's endpoint_url
	// for urn:ietf:rfc:8936).
	URL string
	// Authorization is the header value each poll carries (the stream's
	// bearer token), "" for none.
	Authorization string
	// MaxEvents asks for at most this many SETs a poll. Default 25.
	MaxEvents int
	// Timeout bounds one poll. Default 30s.
	Timeout time.Duration
	// Client sends the polls. Default: a client of its own.
	Client *http.Client
}

// Poller asks one transmitter for SETs. It keeps the acknowledgements and
// errors to send with the next poll; use one Poller from one goroutine.
type Poller struct {
	opts    PollerOptions
	client  *http.Client
	ack     []string
	setErrs map[string]pollError
}

type pollError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// NewPoller returns a Poller with defaults applied.
func NewPoller(opts PollerOptions) *Poller {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultPollMaxEvents
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultPollTimeout
	}
	p := &Poller{opts: opts, client: opts.Client, setErrs: map[string]pollError{}}
	if p.client == nil {
		p.client = &http.Client{Timeout: opts.Timeout}
	}
	return p
}

// Ack is to be sent with the next poll: the SET jti was accepted.
func (p *Poller) Ack(jti string) { p.ack = append(p.ack, jti) }

// Refuse is to be sent with the next poll: the SET jti was refused.
func (p *Poller) Refuse(jti string, r *Refusal) {
	p.setErrs[jti] = pollError{Err: r.Code, Description: r.Description}
}

// Polled is one answer: SETs by jti, and whether more are waiting.
type Polled struct {
	SETs          map[string]string
	MoreAvailable bool
}

// ErrPoll: the poll failed (transport, status, or an answer that is not
// RFC 8936's); the acknowledgements are kept for the next one.
var ErrPoll = errors.New("signals: poll failed")

// Poll sends the pending acknowledgements and errors and asks for SETs
// (returnImmediately: the transmitter answers at once, SETs or none).
func (p *Poller) Poll(ctx context.Context) (*Polled, error) {
	body, _ := json.Marshal(map[string]any{"ack": append([]string{}, p.ack...), "setErrs": p.setErrs,
		"maxEvents": p.opts.MaxEvents, "returnImmediately": true})
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.opts.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPoll, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if p.opts.Authorization != "" {
		req.Header.Set("Authorization", p.opts.Authorization)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPoll, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxPollBody+1))
	if err != nil || len(raw) > maxPollBody {
		return nil, fmt.Errorf("%w: answer unreadable or over %d bytes", ErrPoll, maxPollBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrPoll, resp.StatusCode)
	}
	var out struct {
		SETs          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.SETs == nil {
		return nil, fmt.Errorf("%w: the answer has no sets object", ErrPoll)
	}
	// The transmitter has them now.
	p.ack, p.setErrs = nil, map[string]pollError{}
	return &Polled{SETs: out.SETs, MoreAvailable: out.MoreAvailable}, nil
}

// ReceivePolled verifies one SET a poll brought under jti: as a push, but
// with no Content-Type or Authorization of its own (the poll carried
// them), and the SET's jti must be the one it was listed under.
func (r *Receiver) ReceivePolled(ctx context.Context, jti, set string) (*Accepted, error) {
	a, err := r.receive(ctx, Delivery{Body: []byte(set)}, true, jti)
	return a, err
}
