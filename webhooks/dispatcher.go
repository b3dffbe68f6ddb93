package webhooks

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Signer signs request bodies (jwks.PSSSigner: RSASSA-PSS SHA-256).
type Signer interface {
	// SignDetached returns the base64url signature of payload.
	SignDetached(payload []byte) (string, error)
	// KeyID is the kid the gateway's JWKS publishes the key under.
	KeyID() string
}

// Endpoint is one receiver of webhooks.
type Endpoint struct {
	// URL receives a POST per event.
	URL string
	// Events are the types it wants; empty: all of Types.
	Events []string
	// Secret, when set, adds X-Stepup-Signature: t=<unix>,v1=<hex
	// HMAC-SHA256(Secret, t + "." + body)>.
	Secret []byte
}

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxAttempts  = 10
	DefaultBackoff      = 5 * time.Second
	DefaultMaxBackoff   = 10 * time.Minute
	DefaultQueueSize    = 10000
	DefaultWorkers      = 4
	DefaultDrainTimeout = 5 * time.Second
)

// Options configures a Dispatcher; zero values take the defaults.
type Options struct {
	// AppID is the envelope's app_id.
	AppID     string
	Endpoints []Endpoint
	// Signer signs every body (X-Webhook-Signature); required.
	Signer Signer
	// Timeout bounds each attempt (connection, request and answer).
	Timeout time.Duration
	// MaxAttempts bounds the attempts per event and endpoint, the first
	// included.
	MaxAttempts int
	// Backoff is the wait after the first failed attempt; each further
	// failure doubles it, up to MaxBackoff. Each wait is drawn between
	// half of that and all of it (jitter).
	Backoff, MaxBackoff time.Duration
	// QueueSize bounds the deliveries each endpoint holds at once:
	// waiting, in flight, or waiting for a retry. An event that finds it
	// full is dropped, never waited for.
	QueueSize int
	// Workers is how many requests each endpoint has in flight at most.
	Workers int
	// DrainTimeout bounds Stop: queued deliveries are tried until then,
	// then requests in flight are cancelled.
	DrainTimeout time.Duration
	// Transport sends the requests (nil: a clone of the default one).
	// Redirects are never followed.
	Transport http.RoundTripper
	// Clock schedules retries (nil: the real one); Jitter turns a backoff
	// into the actual wait (nil: equal jitter).
	Clock  Clock
	Jitter func(time.Duration) time.Duration
	// Report hears of every delivery's progress (nil: nobody). It is
	// called from the dispatcher's goroutines and from Notify: keep it
	// quick.
	Report func(Report)
	Logger *zap.Logger
}

// Outcomes a Report tells.
const (
	OutcomeQueued    = "queued"    // accepted into an endpoint's queue
	OutcomeDelivered = "delivered" // the receiver answered 2xx
	OutcomeRetried   = "retried"   // an attempt failed; another is scheduled
	OutcomeFailed    = "failed"    // the last attempt failed: given up
	OutcomeDropped   = "dropped"   // the endpoint's queue was full
	OutcomeDiscarded = "discarded" // the dispatcher stopped before delivery
)

// Outcomes lists every outcome, for metrics preset at zero.
var Outcomes = []string{OutcomeQueued, OutcomeDelivered, OutcomeRetried, OutcomeFailed, OutcomeDropped, OutcomeDiscarded}

// Report is one step of one delivery (an event to one endpoint).
type Report struct {
	Type    string // the event's type
	Outcome string
	EventID string
	// UserID and SessionID are the event's.
	UserID, SessionID string
	// Endpoint is the endpoint's index in Options.Endpoints (its URL may
	// carry a secret: it is never reported).
	Endpoint int
	// Attempts made so far; Status is the last answer's HTTP status (0:
	// none, the request failed).
	Attempts, Status int
}

// Dispatcher delivers user events to the endpoints that want them. Its
// methods are safe for concurrent use.
type Dispatcher struct {
	appID  string
	lanes  []*lane
	client *http.Client
	once   sync.Once
}

// New checks o and returns a dispatcher; Start starts its workers.
func New(o Options) (*Dispatcher, error) {
	if o.Signer == nil {
		return nil, errors.New("webhooks: a signer is required")
	}
	if len(o.Endpoints) == 0 {
		return nil, errors.New("webhooks: no endpoint")
	}
	o.setDefaults()
	client := &http.Client{Transport: o.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	d := &Dispatcher{appID: o.AppID, client: client}
	for i, ep := range o.Endpoints {
		u, err := url.Parse(ep.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("webhooks: endpoint %d: not an absolute http(s) URL", i)
		}
		for _, typ := range ep.Events {
			if !slices.Contains(Types, typ) {
				return nil, fmt.Errorf("webhooks: endpoint %d: unknown event type %q", i, typ)
			}
		}
		d.lanes = append(d.lanes, newLane(i, ep, &o, client))
	}
	return d, nil
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, DefaultTimeout)
	def(&o.Backoff, DefaultBackoff)
	def(&o.MaxBackoff, max(DefaultMaxBackoff, o.Backoff))
	def(&o.DrainTimeout, DefaultDrainTimeout)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Jitter == nil {
		o.Jitter = equalJitter
	}
	if o.Report == nil {
		o.Report = func(Report) {}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Start starts every endpoint's workers; calling it again does nothing.
func (d *Dispatcher) Start() {
	d.once.Do(func() {
		for _, l := range d.lanes {
			l.start()
		}
	})
}

// Notify queues ev for every endpoint that wants its type, and returns at
// once: a full queue drops the event for that endpoint (reported
// OutcomeDropped), a stopped dispatcher discards it. It is the engine's
// stepup.Config.UserEvents.
func (d *Dispatcher) Notify(ev stepup.UserEvent) {
	event, ok := NewEvent(ev)
	if !ok {
		return
	}
	var body []byte
	for _, l := range d.lanes {
		if !l.wants(event.Type) {
			continue
		}
		if body == nil {
			body = Body(d.appID, event)
		}
		l.offer(&delivery{event: event.Type, eventID: event.ID, userID: ev.UserID, sessionID: ev.SessionID, body: body})
	}
}

// Stop stops taking events, cancels the scheduled retries (their
// deliveries are discarded), tries what is queued until the drain timeout,
// then cancels the requests still in flight; it returns when every worker
// has ended. Notify after Stop discards.
func (d *Dispatcher) Stop() {
	var wg sync.WaitGroup
	for _, l := range d.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.stop()
		}()
	}
	wg.Wait()
	d.client.CloseIdleConnections()
}
