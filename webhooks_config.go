package caddystepup

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

// WebhooksConfig sends Prelude's session webhooks to your backend: the
// events Prelude's Session product sends (`user.created`,
// `user.identifier.created`, `user.session.created`,
// `user.session.revoked`), in Prelude's envelope
// `{"app_id", "events": [{"id", "type", "created_at", "payload"}]}`, one
// event per request, signed as Prelude signs them (`X-Webhook-Signature:
// rsassa-pss-sha256=<base64url RSASSA-PSS SHA-256 of the body>` and
// `X-Webhook-Signature-Key-Id`, the key published in
// `/.well-known/jwks.json`).
//
// Delivery is asynchronous: the request that caused an event never waits
// for it. Each endpoint has its own bounded queue in memory and its own
// workers; a failed attempt (no answer, or not 2xx) is retried with
// exponential backoff and jitter, up to max_attempts, with the same event
// ID, so receivers deduplicate. Each instance sends the events of the
// requests it served: instances sharing a store never send one event
// twice. What is queued is lost when the process ends.
type WebhooksConfig struct {
	// The envelope's `app_id`. Default: the issuer.
	AppID string `json:"app_id,omitempty"`

	// Where the events go. At least one.
	Endpoints []*WebhookEndpoint `json:"endpoints,omitempty"`

	// Time allowed per attempt: connecting, sending and the answer.
	// Default: 10s (what Prelude allows a receiver); 1s to 60s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Attempts per event and endpoint, the first included. Default: 10;
	// 1 to 100.
	MaxAttempts int `json:"max_attempts,omitempty"`

	// The wait after the first failed attempt, doubled after each further
	// failure up to max_backoff; each wait is drawn between half of it and
	// all of it (jitter). Default: 5s (at least 10ms), and max_backoff 10m
	// (at least backoff, at most 24h). With the defaults, the last of 10
	// attempts comes 15 to 31 minutes after the first.
	Backoff    caddy.Duration `json:"backoff,omitempty"`
	MaxBackoff caddy.Duration `json:"max_backoff,omitempty"`

	// Deliveries each endpoint holds at once (waiting, in flight or
	// waiting for a retry). An event that finds the queue full is dropped
	// for that endpoint, counted and logged: the request that caused it
	// never waits. Default: 10000; 1 to 1000000.
	QueueSize int `json:"queue_size,omitempty"`

	// Requests in flight per endpoint, at most. Default: 4; 1 to 64.
	Workers int `json:"workers,omitempty"`

	// How long a config that stops (a reload that changes the webhooks, a
	// shutdown) keeps trying what is queued before it cancels what is in
	// flight; retries not yet due are dropped at once. Default: 5s; at
	// most 60s.
	DrainTimeout caddy.Duration `json:"drain_timeout,omitempty"`
}

// WebhookEndpoint is one receiver of the session webhooks.
type WebhookEndpoint struct {
	// The URL each event is POSTed to: https (http on loopback only).
	// Required.
	URL string `json:"url,omitempty"`

	// The event types it receives. Default: all four.
	Events []string `json:"events,omitempty"`

	// A shared secret (at least 16 characters; write it as {env.NAME}):
	// adds `X-Stepup-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
	// "<unix>." + body)>`, besides the RSA signature. Default: none.
	Secret string `json:"secret,omitempty"`

	// secretLost: a secret was written but its placeholder resolved to
	// nothing (Provision); Validate refuses it.
	secretLost bool
}

// Defaults and bounds of the webhook settings.
const (
	minWebhookBackoff = 10 * time.Millisecond
	minWebhookSecret  = 16
)

// Delegation hook signature algorithms (hook_algorithm).
const (
	hookES256 = "ES256"
	hookPS256 = "PS256"
)

// resolveWebhookPlaceholders resolves the webhook block's placeholders,
// noting a secret that resolved to nothing.
func (w *WebhooksConfig) resolvePlaceholders(repl *caddy.Replacer) {
	w.AppID = repl.ReplaceKnown(w.AppID, "")
	for _, ep := range w.Endpoints {
		if ep == nil {
			continue
		}
		ep.URL = repl.ReplaceKnown(ep.URL, "")
		written := ep.Secret != ""
		ep.Secret = repl.ReplaceKnown(ep.Secret, "")
		ep.secretLost = written && ep.Secret == ""
	}
}

func (w *WebhooksConfig) setDefaults(issuer string) {
	if w.AppID == "" {
		w.AppID = issuer
	}
	def := func(d *caddy.Duration, v time.Duration) {
		if *d == 0 {
			*d = caddy.Duration(v)
		}
	}
	def(&w.Timeout, webhooks.DefaultTimeout)
	def(&w.Backoff, webhooks.DefaultBackoff)
	def(&w.MaxBackoff, max(webhooks.DefaultMaxBackoff, time.Duration(w.Backoff)))
	def(&w.DrainTimeout, webhooks.DefaultDrainTimeout)
	if w.MaxAttempts == 0 {
		w.MaxAttempts = webhooks.DefaultMaxAttempts
	}
	if w.QueueSize == 0 {
		w.QueueSize = webhooks.DefaultQueueSize
	}
	if w.Workers == 0 {
		w.Workers = webhooks.DefaultWorkers
	}
}

// validateWebhooks checks the webhook block and hook_algorithm.
func (a *App) validateWebhooks() error {
	switch a.HookAlgorithm {
	case "", hookES256, hookPS256:
	default:
		return fmt.Errorf("hook_algorithm must be %s or %s", hookES256, hookPS256)
	}
	w := a.Webhooks
	if w == nil {
		return nil
	}
	if a.Issuer == "" {
		return errors.New("webhooks need `issuer`: their events are the gateway's own users and sessions")
	}
	if w.AppID == "" || len(w.AppID) > 128 {
		return errors.New("webhooks: app_id must be 1 to 128 characters")
	}
	if len(w.Endpoints) == 0 {
		return errors.New("webhooks: at least one endpoint is required")
	}
	seen := map[string]bool{}
	for i, ep := range w.Endpoints {
		if ep == nil {
			return fmt.Errorf("webhooks: endpoint %d: url is required", i)
		}
		if err := urlcheck.HTTPSOrLoopback(ep.URL); err != nil {
			return fmt.Errorf("webhooks: endpoint %d: %v", i, err)
		}
		if seen[ep.URL] {
			return fmt.Errorf("webhooks: endpoint %d: the same URL twice (each would get every event)", i)
		}
		seen[ep.URL] = true
		for j, typ := range ep.Events {
			if !slices.Contains(webhooks.Types, typ) {
				return fmt.Errorf("webhooks: endpoint %d: unknown event %q (want %v)", i, typ, webhooks.Types)
			}
			if slices.Contains(ep.Events[:j], typ) {
				return fmt.Errorf("webhooks: endpoint %d: event %s listed twice", i, typ)
			}
		}
		if ep.secretLost {
			return fmt.Errorf("webhooks: endpoint %d: secret resolved to nothing (an unset variable?)", i)
		}
		if ep.Secret != "" && len(ep.Secret) < minWebhookSecret {
			return fmt.Errorf("webhooks: endpoint %d: secret must be at least %d characters", i, minWebhookSecret)
		}
	}
	return w.validateDelivery()
}

// validateDelivery checks the timing and size settings.
func (w *WebhooksConfig) validateDelivery() error {
	switch {
	case time.Duration(w.Timeout) < time.Second || time.Duration(w.Timeout) > time.Minute:
		return errors.New("webhooks: timeout must be between 1s and 60s")
	case w.MaxAttempts < 1 || w.MaxAttempts > 100:
		return errors.New("webhooks: max_attempts must be between 1 and 100")
	case time.Duration(w.Backoff) < minWebhookBackoff:
		return fmt.Errorf("webhooks: backoff must be at least %s", minWebhookBackoff)
	case w.MaxBackoff < w.Backoff || time.Duration(w.MaxBackoff) > 24*time.Hour:
		return errors.New("webhooks: max_backoff must be at least backoff and at most 24h")
	case w.QueueSize < 1 || w.QueueSize > 1_000_000:
		return errors.New("webhooks: queue_size must be between 1 and 1000000")
	case w.Workers < 1 || w.Workers > 64:
		return errors.New("webhooks: workers must be between 1 and 64")
	case w.DrainTimeout < 0 || time.Duration(w.DrainTimeout) > time.Minute:
		return errors.New("webhooks: drain_timeout must be at most 60s")
	}
	return nil
}

// options is the dispatcher's configuration.
func (w *WebhooksConfig) options() webhooks.Options {
	o := webhooks.Options{AppID: w.AppID, Timeout: time.Duration(w.Timeout), MaxAttempts: w.MaxAttempts,
		Backoff: time.Duration(w.Backoff), MaxBackoff: time.Duration(w.MaxBackoff), QueueSize: w.QueueSize,
		Workers: w.Workers, DrainTimeout: time.Duration(w.DrainTimeout)}
	for _, ep := range w.Endpoints {
		o.Endpoints = append(o.Endpoints, webhooks.Endpoint{URL: ep.URL, Events: ep.Events, Secret: []byte(ep.Secret)})
	}
	return o
}
