package caddystepup

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// measuredStore times every store operation and counts its failures (an
// absent key, an existing one or a lost compare-and-swap are answers, not
// failures); a failure is also an audit event.
type measuredStore struct {
	store.Store
	seconds map[string]prometheus.Observer
	errs    map[string]prometheus.Counter
	onFail  func(op string)
}

var storeOps = []string{"get", "set", "create", "swap", "take", "incr", "decr", "delete", "add_member", "remove_member", "members", "ping"}

func newMeasuredStore(s store.Store, onFail func(op string)) *measuredStore {
	initMetrics()
	m := &measuredStore{Store: s, seconds: map[string]prometheus.Observer{}, errs: map[string]prometheus.Counter{}, onFail: onFail}
	for _, op := range storeOps {
		m.seconds[op] = stepupMetrics.storeSeconds.WithLabelValues(op)
		m.errs[op] = stepupMetrics.storeErrors.WithLabelValues(op)
	}
	return m
}

func (m *measuredStore) done(op string, start time.Time, err error) {
	m.seconds[op].Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) {
		m.errs[op].Inc()
		if m.onFail != nil {
			m.onFail(op)
		}
	}
}

func (m *measuredStore) Get(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	v, err := m.Store.Get(ctx, key)
	m.done("get", start, err)
	return v, err
}

func (m *measuredStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.Set(ctx, key, value, ttl)
	m.done("set", start, err)
	return err
}

func (m *measuredStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.Create(ctx, key, value, ttl)
	m.done("create", start, err)
	return err
}

func (m *measuredStore) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.Swap(ctx, key, old, value, ttl)
	m.done("swap", start, err)
	return err
}

func (m *measuredStore) Take(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	v, err := m.Store.Take(ctx, key)
	m.done("take", start, err)
	return v, err
}

func (m *measuredStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	start := time.Now()
	n, err := m.Store.Incr(ctx, key, ttl)
	m.done("incr", start, err)
	return n, err
}

func (m *measuredStore) Decr(ctx context.Context, key string) error {
	start := time.Now()
	err := m.Store.Decr(ctx, key)
	m.done("decr", start, err)
	return err
}

func (m *measuredStore) Delete(ctx context.Context, keys ...string) error {
	start := time.Now()
	err := m.Store.Delete(ctx, keys...)
	m.done("delete", start, err)
	return err
}

func (m *measuredStore) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	start := time.Now()
	err := m.Store.AddMember(ctx, key, member, ttl)
	m.done("add_member", start, err)
	return err
}

func (m *measuredStore) RemoveMember(ctx context.Context, key, member string) error {
	start := time.Now()
	err := m.Store.RemoveMember(ctx, key, member)
	m.done("remove_member", start, err)
	return err
}

func (m *measuredStore) Members(ctx context.Context, key string) ([]string, error) {
	start := time.Now()
	v, err := m.Store.Members(ctx, key)
	m.done("members", start, err)
	return v, err
}

func (m *measuredStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := m.Store.Ping(ctx)
	m.done("ping", start, err)
	return err
}

// NearlyFull passes the memory store's bound through.
func (m *measuredStore) NearlyFull() bool {
	b, ok := m.Store.(store.Bounded)
	return ok && b.NearlyFull()
}

// measuredTransport times delegation hook calls.
type measuredTransport struct{ next http.RoundTripper }

func (t measuredTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	stepupMetrics.hookSeconds.WithLabelValues(status).Observe(time.Since(start).Seconds())
	return resp, err
}

// newMeasuredHookClient is the engine's hook client over a timed transport.
func newMeasuredHookClient() *http.Client {
	initMetrics()
	return stepup.NewHookClient(measuredTransport{next: http.DefaultTransport})
}
