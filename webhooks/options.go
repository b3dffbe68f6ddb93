package webhooks

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
)

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

// Bounds of Options.
const (
	minBackoff   = 10 * time.Millisecond
	minSecretLen = 16
	maxAppIDLen  = 128
)

// WithDefaults is o with every zero setting given its default.
func (o Options) WithDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Timeout, DefaultTimeout)
	def(&o.Backoff, DefaultBackoff)
	def(&o.MaxBackoff, max(DefaultMaxBackoff, o.Backoff))
	def(&o.DrainTimeout, DefaultDrainTimeout)
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	return o
}

// Validate checks the settings (zero ones take their defaults): the app_id,
// every endpoint (https but on loopback, each URL once, known events each
// once, a secret long enough), and the delivery's timing and sizes. Its
// errors never quote a URL, which may carry a secret.
func (o Options) Validate() error {
	o = o.WithDefaults()
	if o.AppID == "" || len(o.AppID) > maxAppIDLen {
		return fmt.Errorf("webhooks: app_id must be 1 to %d characters", maxAppIDLen)
	}
	if len(o.Endpoints) == 0 {
		return errors.New("webhooks: at least one endpoint is required")
	}
	for i, ep := range o.Endpoints {
		if err := ep.validate(o.Endpoints[:i]); err != nil {
			return fmt.Errorf("webhooks: endpoint %d: %v", i, err)
		}
	}
	switch {
	case o.Timeout < time.Second || o.Timeout > time.Minute:
		return errors.New("webhooks: timeout must be between 1s and 60s")
	case o.MaxAttempts < 1 || o.MaxAttempts > 100:
		return errors.New("webhooks: max_attempts must be between 1 and 100")
	case o.Backoff < minBackoff:
		return fmt.Errorf("webhooks: backoff must be at least %s", minBackoff)
	case o.MaxBackoff < o.Backoff || o.MaxBackoff > 24*time.Hour:
		return errors.New("webhooks: max_backoff must be at least backoff and at most 24h")
	case o.QueueSize < 1 || o.QueueSize > 1_000_000:
		return errors.New("webhooks: queue_size must be between 1 and 1000000")
	case o.Workers < 1 || o.Workers > 64:
		return errors.New("webhooks: workers must be between 1 and 64")
	case o.DrainTimeout < 0 || o.DrainTimeout > time.Minute:
		return errors.New("webhooks: drain_timeout must be at most 60s")
	}
	return nil
}

// validate checks one endpoint, and that none of those before has its URL.
func (ep Endpoint) validate(before []Endpoint) error {
	if ep.URL == "" {
		return errors.New("url is required")
	}
	if err := urlcheck.HTTPSOrLoopback(ep.URL); err != nil {
		return fmt.Errorf("the URL %v", errors.Unwrap(err)) // not quoted: it may carry a secret
	}
	if slices.ContainsFunc(before, func(b Endpoint) bool { return b.URL == ep.URL }) {
		return errors.New("the same URL twice (each would get every event)")
	}
	for j, typ := range ep.Events {
		if !slices.Contains(Types, typ) {
			return fmt.Errorf("unknown event %q (want %v)", typ, Types)
		}
		if slices.Contains(ep.Events[:j], typ) {
			return fmt.Errorf("event %s listed twice", typ)
		}
	}
	if len(ep.Secret) > 0 && len(ep.Secret) < minSecretLen {
		return fmt.Errorf("secret must be at least %d characters", minSecretLen)
	}
	return nil
}

// setHooks fills in the dispatcher's parts the caller left out.
func (o *Options) setHooks() {
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
