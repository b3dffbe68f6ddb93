package appconfig

import (
	"errors"
	"fmt"
	"time"

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
	Timeout Duration `json:"timeout,omitempty"`

	// Attempts per event and endpoint, the first included. Default: 10;
	// 1 to 100.
	MaxAttempts int `json:"max_attempts,omitempty"`

	// The wait after the first failed attempt, doubled after each further
	// failure up to max_backoff; each wait is drawn between half of it and
	// all of it (jitter). Default: 5s (at least 10ms), and max_backoff 10m
	// (at least backoff, at most 24h). With the defaults, the last of 10
	// attempts comes 15 to 31 minutes after the first.
	Backoff    Duration `json:"backoff,omitempty"`
	MaxBackoff Duration `json:"max_backoff,omitempty"`

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
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
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

// Delegation hook signature algorithms (hook_algorithm).
const (
	HookES256 = "ES256"
	HookPS256 = "PS256"
)

// resolveWebhookPlaceholders resolves the webhook block's placeholders,
// noting a secret that resolved to nothing.
func (w *WebhooksConfig) resolvePlaceholders(resolve func(string) string) {
	w.AppID = resolve(w.AppID)
	for _, ep := range w.Endpoints {
		if ep == nil {
			continue
		}
		ep.URL = resolve(ep.URL)
		written := ep.Secret != ""
		ep.Secret = resolve(ep.Secret)
		ep.secretLost = written && ep.Secret == ""
	}
}

// setDefaults gives the envelope's app_id its default, the issuer; the
// delivery settings take theirs in webhooks.Options.WithDefaults.
func (w *WebhooksConfig) setDefaults(issuer string) {
	if w.AppID == "" {
		w.AppID = issuer
	}
}

// validateWebhooks checks the webhook block and hook_algorithm.
func (c *Config) validateWebhooks() error {
	switch c.HookAlgorithm {
	case "", HookES256, HookPS256:
	default:
		return fmt.Errorf("hook_algorithm must be %s or %s", HookES256, HookPS256)
	}
	w := c.Webhooks
	if w == nil {
		return nil
	}
	if c.Issuer == "" {
		return errors.New("webhooks need `issuer`: their events are the gateway's own users and sessions")
	}
	for i, ep := range w.Endpoints {
		if ep != nil && ep.secretLost {
			return fmt.Errorf("webhooks: endpoint %d: secret resolved to nothing (an unset variable?)", i)
		}
	}
	return w.Options().Validate()
}

// options is the dispatcher's configuration.
func (w *WebhooksConfig) Options() webhooks.Options {
	o := webhooks.Options{AppID: w.AppID, Timeout: time.Duration(w.Timeout), MaxAttempts: w.MaxAttempts,
		Backoff: time.Duration(w.Backoff), MaxBackoff: time.Duration(w.MaxBackoff), QueueSize: w.QueueSize,
		Workers: w.Workers, DrainTimeout: time.Duration(w.DrainTimeout)}
	for _, ep := range w.Endpoints {
		if ep == nil {
			ep = &WebhookEndpoint{} // refused by Validate: url is required
		}
		o.Endpoints = append(o.Endpoints, webhooks.Endpoint{URL: ep.URL, Events: ep.Events, Secret: []byte(ep.Secret)})
	}
	return o
}
