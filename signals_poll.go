package caddystepup

import (
	"context"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"

	"github.com/caddy-stepup/caddy-stepup/signals"
)

// startPolling polls a transmitter (RFC 8936) until the config's context
// ends, with the runtime of the moment (signals.Processor.PollOnce).
// Nothing is polled before the stepup app has started (a config that is
// only validated never does).
func (h *SignalsHandler) startPolling(ctx context.Context, issuer string, t appconfig.Transmitter, authorization string) {
	poller := signals.NewPoller(signals.PollerOptions{URL: t.PollURL, Authorization: authorization})
	logger := h.logger.With(zap.String("transmitter", issuer))
	go signals.PollEvery(ctx, t.PollEvery(), func(ctx context.Context) bool {
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
