package webhooks

import (
	"errors"
	"net/http"
	"sync"

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
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.setHooks()
	client := &http.Client{Transport: o.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	d := &Dispatcher{appID: o.AppID, client: client}
	for i, ep := range o.Endpoints {
		d.lanes = append(d.lanes, newLane(i, ep, &o, client))
	}
	return d, nil
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
