package telemetry

import (
	"sync/atomic"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

// EventWebhookFailed is the audit event of a session webhook that will not
// reach an endpoint; op: the webhook's type; reason: why.
const EventWebhookFailed = "webhook.failed"

// Why a webhook did not reach an endpoint (the audit entry's reason).
const (
	webhookGaveUp    = "attempts_exhausted" // its last attempt failed
	webhookQueueFull = "queue_full"         // the endpoint's queue was full
	webhookStopped   = "stopped"            // the config stopped before its delivery
)

// webhookAudit limits the audit entries of drops and discards, which come
// in floods (a full queue, a stop with a full queue), to one a second each;
// every one is counted.
type webhookAudit struct {
	lastDrop, lastDiscard atomic.Int64
}

// Webhook counts one step of a webhook delivery (webhooks.Options.Report)
// and audits a delivery that will not happen: each one given up, and at
// most one drop and one discard a second.
func (r *Recorder) Webhook(rep webhooks.Report) {
	webhookDeliveries.WithLabelValues(rep.Type, rep.Outcome).Inc()
	var reason string
	switch rep.Outcome {
	case webhooks.OutcomeFailed:
		reason = webhookGaveUp
	case webhooks.OutcomeDropped:
		if r == nil || !r.onceASecond(&r.webhooks.lastDrop) {
			return
		}
		reason = webhookQueueFull
	case webhooks.OutcomeDiscarded:
		if r == nil || !r.onceASecond(&r.webhooks.lastDiscard) {
			return
		}
		reason = webhookStopped
	default:
		return
	}
	r.write(stepup.Event{Name: EventWebhookFailed, UserID: rep.UserID, SessionID: rep.SessionID, Reason: reason}, rep.Type)
}

// onceASecond reports whether last (a Unix second) was not this second,
// and makes it this one.
func (r *Recorder) onceASecond(last *atomic.Int64) bool {
	now := r.now().Unix()
	prev := last.Load()
	return prev != now && last.CompareAndSwap(prev, now)
}
