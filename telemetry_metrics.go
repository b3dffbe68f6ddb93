package caddystepup

import (
	"errors"
	"sync"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics, registered in Caddy's own registry (served where Caddy serves
// its metrics: the admin endpoint's /metrics, or a `metrics` handler).
// The collectors live for the process; each config load registers them in
// its new registry, so counters carry across `caddy reload` and a second
// registration is never a panic. Every label value comes from the
// configuration or a fixed set: no user IDs, no paths.

const metricsNamespace = "caddy_stepup"

var stepupMetrics = struct {
	once sync.Once

	decisions       *prometheus.CounterVec   // outcome, scope
	tokenCache      *prometheus.CounterVec   // result
	jwksFetches     *prometheus.CounterVec   // result
	logins          *prometheus.CounterVec   // method, outcome
	codesSent       *prometheus.CounterVec   // channel, purpose
	codeSendFailure *prometheus.CounterVec   // channel
	codeChecks      *prometheus.CounterVec   // purpose, outcome
	stepups         *prometheus.CounterVec   // scope, outcome
	grants          *prometheus.CounterVec   // event, mode
	refreshes       *prometheus.CounterVec   // outcome
	revocations     *prometheus.CounterVec   // reason
	storeSeconds    *prometheus.HistogramVec // op
	storeErrors     *prometheus.CounterVec   // op
	hookSeconds     *prometheus.HistogramVec // status
	hookFailures    *prometheus.CounterVec   // reason
}{}

func initMetrics() {
	stepupMetrics.once.Do(func() {
		counter := func(name, help string, labels ...string) *prometheus.CounterVec {
			return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, labels)
		}
		m := &stepupMetrics
		m.decisions = counter("enforcement_decisions_total", "Decisions of stepup handlers, by outcome and the route's required scopes.", "outcome", "scope")
		m.tokenCache = counter("token_cache_lookups_total", "Verified-token cache lookups, by result (hit, miss).", "result")
		m.jwksFetches = counter("jwks_fetches_total", "Fetches of remote key sets, by result (ok, error).", "result")
		m.logins = counter("logins_total", "Login attempts, by method (otp, password, oauth) and outcome (succeeded, failed, locked).", "method", "outcome")
		m.codesSent = counter("codes_sent_total", "One-time codes sent, by channel (sms, email) and purpose (login, step_up).", "channel", "purpose")
		m.codeSendFailure = counter("code_send_failures_total", "One-time codes the sender failed to deliver, by channel.", "channel")
		m.codeChecks = counter("code_checks_total", "One-time code checks, by purpose (login, step_up) and outcome (ok, wrong).", "purpose", "outcome")
		m.stepups = counter("stepups_total", "Step-ups by scope and outcome (review, continue, block, granted, hook_failed).", "scope", "outcome")
		m.grants = counter("grants_total", "Grants issued and single-use grants consumed, by event and mode.", "event", "mode")
		m.refreshes = counter("refreshes_total", "Refresh-token rotations and reuse detections.", "outcome")
		m.revocations = counter("sessions_revoked_total", "Sessions ended, by reason (logout, user, admin, reuse).", "reason")
		m.storeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: "store_operation_seconds",
			Help: "Latency of store operations, by operation.", Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"op"})
		m.storeErrors = counter("store_errors_total", "Store operations that failed (not-found and conflicts are answers, not failures), by operation.", "op")
		m.hookSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: "hook_request_seconds",
			Help: "Latency of delegation hook calls, by HTTP status class (2xx, 4xx, 5xx, error).", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"status"})
		m.hookFailures = counter("hook_failures_total", "Delegation hook calls that refused the step-up, by reason.", "reason")
		presetSeries()
	})
}

// presetSeries creates the series of the fixed label sets at zero, so that
// a dashboard shows 0, not "no data", for what has not happened yet.
func presetSeries() {
	m := &stepupMetrics
	for _, r := range []string{"hit", "miss"} {
		m.tokenCache.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.jwksFetches.WithLabelValues(r)
	}
	for _, method := range []string{"otp", "password", "oauth"} {
		for _, o := range []string{"succeeded", "failed", "locked"} {
			m.logins.WithLabelValues(method, o)
		}
	}
	for _, ch := range []string{"sms", "email"} {
		m.codeSendFailure.WithLabelValues(ch)
		for _, p := range []string{"login", "step_up"} {
			m.codesSent.WithLabelValues(ch, p)
		}
	}
	for _, p := range []string{"login", "step_up"} {
		for _, o := range []string{"ok", "wrong"} {
			m.codeChecks.WithLabelValues(p, o)
		}
	}
	for _, ev := range []string{"issued", "consumed"} {
		for _, mode := range []string{stepup.GrantSingleUse, stepup.GrantSessionBound} {
			m.grants.WithLabelValues(ev, mode)
		}
	}
	for _, o := range []string{"rotated", "reuse_detected"} {
		m.refreshes.WithLabelValues(o)
	}
	for _, r := range []string{"logout", "user", "admin", "reuse"} {
		m.revocations.WithLabelValues(r)
	}
	for _, r := range []string{"request_failed", "invalid_status_code", "response_decode_failed", "invalid_response"} {
		m.hookFailures.WithLabelValues(r)
	}
}

// registerMetrics adds the collectors to a config's registry.
func registerMetrics(reg *prometheus.Registry) error {
	initMetrics()
	m := &stepupMetrics
	for _, c := range []prometheus.Collector{m.decisions, m.tokenCache, m.jwksFetches, m.logins, m.codesSent, m.codeSendFailure,
		m.codeChecks, m.stepups, m.grants, m.refreshes, m.revocations, m.storeSeconds, m.storeErrors, m.hookSeconds, m.hookFailures} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// countCacheLookup counts one verified-token cache lookup.
func countCacheLookup(hit bool) {
	if hit {
		cacheHits.Inc()
	} else {
		cacheMisses.Inc()
	}
}

// countJWKSFetch counts one key-set fetch.
func countJWKSFetch(err error) {
	initMetrics()
	result := "ok"
	if err != nil {
		result = "error"
	}
	stepupMetrics.jwksFetches.WithLabelValues(result).Inc()
}

// The cache counters are on every request's path: resolved once.
var cacheHits, cacheMisses = func() (prometheus.Counter, prometheus.Counter) {
	initMetrics()
	return stepupMetrics.tokenCache.WithLabelValues("hit"), stepupMetrics.tokenCache.WithLabelValues("miss")
}()

// decisionCounters are one route's decision counters, resolved at setup
// so that a request costs one atomic add.
type decisionCounters struct {
	pass    prometheus.Counter
	refused map[string]prometheus.Counter
}

// enforcementOutcomes are every outcome a stepup handler answers with.
var enforcementOutcomes = []string{"no_token", "bad_request", "invalid_token", "unavailable", "body_too_large",
	"invalid_dpop_proof", "use_dpop_nonce", "step_up_required", "insufficient_user_authentication", "forbidden"}

func newDecisionCounters(scope string) decisionCounters {
	initMetrics()
	if scope == "" {
		scope = "none"
	}
	d := decisionCounters{pass: stepupMetrics.decisions.WithLabelValues("pass", scope), refused: map[string]prometheus.Counter{}}
	for _, o := range enforcementOutcomes {
		d.refused[o] = stepupMetrics.decisions.WithLabelValues(o, scope)
	}
	return d
}

func (d decisionCounters) count(outcome string) {
	if c, ok := d.refused[outcome]; ok {
		c.Inc()
	}
}
