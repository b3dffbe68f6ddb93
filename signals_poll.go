package caddystepup

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/signals"
)

// defaultPollInterval is SignalsTransmitter.PollInterval's default.
const defaultPollInterval = 10 * time.Second

// startPolling polls a transmitter (RFC 8936) until the config's context
// ends, with the runtime of the moment (signals.Processor.PollOnce).
// Nothing is polled before the stepup app has started (a config that is
// only validated never does).
func (h *SignalsHandler) startPolling(ctx context.Context, issuer string, t SignalsTransmitter, authorization string) {
	interval := time.Duration(t.PollInterval)
	if interval == 0 {
		interval = defaultPollInterval
	}
	poller := signals.NewPoller(signals.PollerOptions{URL: t.PollURL, Authorization: authorization})
	logger := h.logger.With(zap.String("transmitter", issuer))
	go signals.PollEvery(ctx, interval, func(ctx context.Context) bool {
		rt := h.app.runtime()
		if rt == nil {
			return false
		}
		receiver, err := h.receiverFor(rt)
		if err != nil {
			return false
		}
		return h.processor().PollOnce(ctx, poller, h.gateway(rt), receiver, logger)
	})
}
