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
// ends: each SET is processed as a pushed one is, acknowledged when
// accepted (or a duplicate), reported in setErrs when refused, and left
// for the transmitter to deliver again when it could not be processed.
// Nothing is polled before the stepup app has started (a config that is
// only validated never does).
func (h *SignalsHandler) startPolling(ctx context.Context, issuer string, t SignalsTransmitter, authorization string) {
	interval := time.Duration(t.PollInterval)
	if interval == 0 {
		interval = defaultPollInterval
	}
	poller := signals.NewPoller(signals.PollerOptions{URL: t.PollURL, Authorization: authorization})
	logger := h.logger.With(zap.String("transmitter", issuer))
	go func() {
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			more := h.pollOnce(ctx, poller, logger)
			if more {
				timer.Reset(0)
			} else {
				timer.Reset(interval)
			}
		}
	}()
}

// pollOnce runs one poll and processes what it brought; it reports
// whether the transmitter has more waiting.
func (h *SignalsHandler) pollOnce(ctx context.Context, poller *signals.Poller, logger *zap.Logger) bool {
	rt := h.app.runtime()
	if rt == nil {
		return false
	}
	receiver, err := h.receiverFor(rt)
	if err != nil {
		return false
	}
	polled, err := poller.Poll(ctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("stepup_signals: polling the transmitter failed; trying again later", zap.Error(err))
		}
		return false
	}
	failed := false
	for jti, set := range polled.SETs {
		accepted, err := receiver.ReceivePolled(ctx, jti, set)
		refusal, err := h.process(ctx, rt, receiver, accepted, err)
		switch {
		case refusal != nil:
			poller.Refuse(jti, refusal)
		case err != nil:
			failed = true // not acknowledged: delivered again
		default:
			poller.Ack(jti)
		}
	}
	return polled.MoreAvailable && !failed
}
