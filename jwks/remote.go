package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Defaults for RemoteOptions.
const (
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMaxJWKSBytes       = 1 << 20
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultUnknownKeyCooldown = 60 * time.Second
)

// RemoteOptions configures a Remote.
type RemoteOptions struct {
	// URL of the JWK Set document.
	URL string
	// Client used for fetches. Default: a client of the package's own with
	// Timeout (never http.DefaultClient).
	Client *http.Client
	// Timeout bounds one fetch, also when Client is given. Default 5s.
	Timeout time.Duration
	// MaxBytes caps the response body; a larger body is a failed fetch.
	// Default 1 MiB.
	MaxBytes int64
	// RefreshInterval is the period of the background refresh. Default 15m.
	RefreshInterval time.Duration
	// UnknownKeyCooldown is the minimum time between two fetches triggered
	// by a lookup that found no key. Default 60s.
	UnknownKeyCooldown time.Duration
	// Logger receives fetch failures (never key material). Optional.
	Logger *zap.Logger
	// OnFetch is told how every fetch ended (nil error: a good set), for
	// metrics. Optional.
	OnFetch func(err error)
}

// Remote is a KeySource backed by a JWKS URL. It keeps the last good key set
// when a fetch fails or returns garbage. An unknown kid triggers at most one
// fetch per UnknownKeyCooldown, and concurrent lookups share it, so a flood
// of random kids costs no more than that.
type Remote struct {
	opts   RemoteOptions
	client *http.Client
	log    *zap.Logger
	now    func() time.Time // injectable clock for tests

	keys atomic.Pointer[keySet]

	fetches      singleflight.Group
	mu           sync.Mutex
	lastOnDemand time.Time // start of the last lookup-triggered fetch with a set in hand
	// lastBootstrap is the start of the last lookup-triggered fetch made
	// with no set at all (the first requests racing the first fetch, or a
	// provider that was down): it does not spend the unknown-kid cooldown,
	// so that a gateway started under traffic still learns a rotated key.
	lastBootstrap time.Time

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	started  atomic.Bool
}

// NewRemote returns a Remote with defaults applied. It does no I/O: call
// Start (background) or Refresh (now) to load keys.
func NewRemote(opts RemoteOptions) *Remote {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultFetchTimeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxJWKSBytes
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.UnknownKeyCooldown <= 0 {
		opts.UnknownKeyCooldown = DefaultUnknownKeyCooldown
	}
	r := &Remote{
		opts:   opts,
		client: opts.Client,
		log:    opts.Logger,
		now:    time.Now,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: opts.Timeout}
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	return r
}

// Start refreshes the keys in the background until ctx is done or Close is
// called. The first fetch starts immediately and does not block the caller.
// Calling Start more than once has no further effect.
func (r *Remote) Start(ctx context.Context) {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(r.done)
		ticker := time.NewTicker(r.opts.RefreshInterval)
		defer ticker.Stop()
		for {
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("jwks refresh failed; keeping the last good key set",
					zap.String("url", r.opts.URL), zap.Error(err))
			}
			select {
			case <-ctx.Done():
				return
			case <-r.stop:
				return
			case <-ticker.C:
			}
		}
	}()
}

// Close stops the background refresh started by Start and waits for it.
func (r *Remote) Close() {
	r.stopOnce.Do(func() { close(r.stop) })
	if r.started.Load() {
		<-r.done
	}
}

// Refresh fetches the key set now. On success the new set replaces the old
// one; on any failure (transport, status, oversize body, malformed set, no
// usable key) the last good set stays in place and the error is returned.
func (r *Remote) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	set, err := r.fetch(ctx)
	if r.opts.OnFetch != nil {
		r.opts.OnFetch(err)
	}
	if err != nil {
		return err
	}
	r.keys.Store(set)
	return nil
}

func (r *Remote) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.opts.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: building request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: fetch: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: reading body: %w", err)
	}
	if int64(len(body)) > r.opts.MaxBytes {
		return nil, fmt.Errorf("jwks: body larger than %d bytes", r.opts.MaxBytes)
	}
	set, dropped, err := parseJWKS(body)
	if dropped > 0 {
		r.log.Debug("jwks: dropped keys unfit for verification",
			zap.String("url", r.opts.URL), zap.Int("dropped", dropped))
	}
	return set, err
}

// bootstrapCooldown spaces lookup-triggered fetches while there is no set
// at all: a provider that is down is not asked at request rate.
const bootstrapCooldown = time.Second

// errCooldown: a lookup-triggered fetch happened too recently.
var errCooldown = errors.New("jwks: unknown-key refetch in cooldown")

// LookupKey implements KeySource. A kid missing from the current set (or no
// set at all) triggers one shared refetch, at most once per cooldown.
func (r *Remote) LookupKey(ctx context.Context, kid string) (*VerificationKey, error) {
	if k, ok := r.keys.Load().lookup(kid); ok {
		return k, nil
	}
	r.refetchOnDemand(ctx)
	set := r.keys.Load()
	if set == nil {
		return nil, ErrUnavailable
	}
	if k, ok := set.lookup(kid); ok {
		return k, nil
	}
	return nil, ErrInvalidToken
}

// refetchOnDemand runs at most one fetch at a time (callers arriving while it
// runs wait for it) and at most one per cooldown (callers after it return at
// once). The fetch is detached from the caller's cancellation so that one
// impatient client cannot fail it for everyone.
func (r *Remote) refetchOnDemand(ctx context.Context) {
	_, err, _ := r.fetches.Do("jwks", func() (any, error) {
		r.mu.Lock()
		now := r.now()
		last, cooldown := &r.lastOnDemand, r.opts.UnknownKeyCooldown
		if r.keys.Load() == nil {
			last, cooldown = &r.lastBootstrap, min(bootstrapCooldown, cooldown)
		}
		if !last.IsZero() && now.Sub(*last) < cooldown {
			r.mu.Unlock()
			return nil, errCooldown
		}
		*last = now
		r.mu.Unlock()
		return nil, r.Refresh(context.WithoutCancel(ctx))
	})
	if err != nil && !errors.Is(err, errCooldown) {
		r.log.Debug("jwks: refetch for unknown key failed",
			zap.String("url", r.opts.URL), zap.Error(err))
	}
}

var _ KeySource = (*Remote)(nil)
