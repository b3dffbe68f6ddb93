// Package telemetry is what the gateway tells its operators: the
// caddy_stepup_* Prometheus metrics, the audit log of security events, and
// the measuring of the store and of the delegation hook's calls. It imports
// no Caddy: the Caddy shell registers the collectors in each config's
// registry and hands the Recorder to the engine.
package telemetry

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

// The collectors live for the process: each config load registers the same
// ones in its new registry (Register), so counters carry across
// `caddy reload` and a second registration is never a panic. Every label
// value comes from the configuration or a fixed set: no user IDs, no paths.

const namespace = "caddy_stepup"

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

var (
	decisions       = counter("enforcement_decisions_total", "Decisions of stepup handlers, by outcome and the route's required scopes.", "outcome", "scope")
	tokenCache      = counter("token_cache_lookups_total", "Verified-token cache lookups, by result (hit, miss).", "result")
	jwksFetches     = counter("jwks_fetches_total", "Fetches of remote key sets, by result (ok, error).", "result")
	logins          = counter("logins_total", "Login attempts, by method (otp, password, oauth) and outcome (succeeded, failed, locked).", "method", "outcome")
	codesSent       = counter("codes_sent_total", "One-time codes sent, by channel (sms, email) and purpose (login, step_up).", "channel", "purpose")
	codeSendFailure = counter("code_send_failures_total", "One-time codes the sender failed to deliver, by channel.", "channel")
	codeChecks      = counter("code_checks_total", "One-time code checks, by purpose (login, step_up) and outcome (ok, wrong).", "purpose", "outcome")
	stepups         = counter("stepups_total", "Step-ups by scope and outcome (review, continue, block, granted, hook_failed).", "scope", "outcome")
	grants          = counter("grants_total", "Grants issued and single-use grants consumed, by event and mode.", "event", "mode")
	refreshes       = counter("refreshes_total", "Refresh-token rotations and reuse detections.", "outcome")
	revocations     = counter("sessions_revoked_total", "Sessions ended, by reason (logout, user, admin, reuse).", "reason")
	storeSeconds    = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "store_operation_seconds",
		Help: "Latency of store operations, by operation.", Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"op"})
	storeErrors = counter("store_errors_total", "Store operations that failed (not-found and conflicts are answers, not failures), by operation.", "op")
	hookSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "hook_request_seconds",
		Help: "Latency of delegation hook calls, by HTTP status class (2xx, 4xx, 5xx, error).", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"status"})
	hookFailures      = counter("hook_failures_total", "Delegation hook calls that refused the step-up, by reason.", "reason")
	clockFaults       = counter("redis_clock_faults_total", "Measurements of Redis's clock not used as they were, by reason (out_of_bound, jump, inconsistent).", "reason")
	webhookDeliveries = counter("webhook_deliveries_total",
		"Session webhook deliveries (an event to one endpoint), by event type and outcome (queued, delivered, retried, failed, dropped, discarded).",
		"event", "outcome")

	collectors = []prometheus.Collector{decisions, tokenCache, jwksFetches, logins, codesSent, codeSendFailure,
		codeChecks, stepups, grants, refreshes, revocations, storeSeconds, storeErrors, hookSeconds, hookFailures, clockFaults,
		webhookDeliveries, signalsReceived, streamChanges}
)

// Register adds the collectors to a config's registry; registering them
// again (in the same registry or in the next config's) is not an error.
func Register(reg prometheus.Registerer) error {
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

func init() { presetSeries() }

// presetSeries creates the series of the fixed label sets at zero, so that
// a dashboard shows 0, not "no data", for what has not happened yet.
func presetSeries() {
	presetSignals()
	for _, method := range []string{"otp", "password", "oauth", "passkey"} {
		for _, o := range []string{"succeeded", "failed", "locked"} {
			logins.WithLabelValues(method, o)
		}
	}
	for _, ch := range []string{"sms", "email"} {
		codeSendFailure.WithLabelValues(ch)
		for _, p := range []string{"login", "step_up"} {
			codesSent.WithLabelValues(ch, p)
		}
	}
	for _, p := range []string{"login", "step_up"} {
		for _, o := range []string{"ok", "wrong"} {
			codeChecks.WithLabelValues(p, o)
		}
	}
	for _, ev := range []string{"issued", "consumed"} {
		for _, mode := range []string{stepup.GrantSingleUse, stepup.GrantSessionBound} {
			grants.WithLabelValues(ev, mode)
		}
	}
	for _, o := range []string{"rotated", "reuse_detected"} {
		refreshes.WithLabelValues(o)
	}
	for _, r := range []string{"logout", "relogin", "user", "admin", "reuse", stepup.ReasonSignal} {
		revocations.WithLabelValues(r)
	}
	for _, r := range []string{"request_failed", "invalid_status_code", "response_decode_failed", "invalid_response"} {
		hookFailures.WithLabelValues(r)
	}
	for _, r := range []string{store.ClockOutOfBound, store.ClockJump, store.ClockInconsistent} {
		clockFaults.WithLabelValues(r)
	}
	for _, typ := range webhooks.Types {
		for _, o := range webhooks.Outcomes {
			webhookDeliveries.WithLabelValues(typ, o)
		}
	}
}

// The cache and fetch counters, resolved once: the cache's are on every
// request's path. Resolving them also presets them at zero.
var (
	cacheHit, cacheMiss = tokenCache.WithLabelValues("hit"), tokenCache.WithLabelValues("miss")
	fetchOK, fetchError = jwksFetches.WithLabelValues("ok"), jwksFetches.WithLabelValues("error")
)

// CacheLookup counts one verified-token cache lookup (jwks.VerifierOptions.OnCache).
func CacheLookup(hit bool) {
	if hit {
		cacheHit.Inc()
	} else {
		cacheMiss.Inc()
	}
}

// JWKSFetch counts one remote key-set fetch (jwks.RemoteOptions.OnFetch).
func JWKSFetch(err error) {
	if err != nil {
		fetchError.Inc()
	} else {
		fetchOK.Inc()
	}
}

// ClockFault counts one measurement of Redis's clock that was not used as
// it was (store.RedisOptions.OnClockFault).
func ClockFault(reason string) { clockFaults.WithLabelValues(reason).Inc() }
