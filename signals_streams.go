package caddystepup

import (
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/signals"
)

// The SSF streams the admin routes manage (POST
// /stepup/signals/{transmitter}/verify, GET .../stream): each
// stepup_signals handler registers its transmitters with the app of its
// config, and its stream management APIs (configuration_url, stream_id,
// stream_authorization).

// signalStreams is the app's register of transmitters: issuer →
// *SignalsHandler, the first handler of the config that names it.
type signalStreams struct{ byIssuer sync.Map }

// register adds h's transmitters; a transmitter another handler of the
// config registered already stays with that one.
func (s *signalStreams) register(h *SignalsHandler) {
	for _, t := range h.Transmitters {
		if other, loaded := s.byIssuer.LoadOrStore(t.Issuer, h); loaded && other != h {
			h.logger.Warn("stepup_signals: another stepup_signals endpoint of this config receives from this transmitter; the admin routes manage its stream through that one",
				zap.String("transmitter", t.Issuer))
		}
	}
}

// unregister removes h's transmitters (Cleanup).
func (s *signalStreams) unregister(h *SignalsHandler) {
	for _, t := range h.Transmitters {
		s.byIssuer.CompareAndDelete(t.Issuer, h)
	}
}

// appStreams serves adminapi.SignalStreams with the app's runtime.
type appStreams struct {
	app *App
	rt  *appRuntime
}

// Stream is the receiver of issuer's handler over the runtime's store, and
// its stream management API.
func (s appStreams) Stream(issuer string) (*signals.Receiver, *signals.StreamAPI, bool, error) {
	v, ok := s.app.signalStreams.byIssuer.Load(issuer)
	if !ok {
		return nil, nil, false, nil
	}
	h := v.(*SignalsHandler)
	r, err := h.receiverFor(s.rt)
	if err != nil {
		return nil, nil, true, err
	}
	return r, h.streamAPIs[issuer], true, nil
}

// provisionStreamAPI builds t's stream management API when it has a
// configuration_url; its credential is resolved here ({env.*}, {file.*})
// and never logged.
func (h *SignalsHandler) provisionStreamAPI(repl *caddy.Replacer, t appconfig.Transmitter) error {
	if t.ConfigurationURL == "" {
		return nil
	}
	credential := repl.ReplaceKnown(t.StreamAuthorization, "")
	if t.StreamAuthorization != "" && credential == "" {
		return fmt.Errorf("stepup_signals: transmitter %q: stream_authorization resolved to nothing", t.Issuer)
	}
	api, err := signals.NewStreamAPI(signals.StreamAPIOptions{Issuer: t.Issuer, ConfigurationURL: t.ConfigurationURL,
		StreamID: t.StreamID, Authorization: credential})
	if err != nil {
		return fmt.Errorf("stepup_signals: transmitter %q: %v", t.Issuer, err)
	}
	if h.streamAPIs == nil {
		h.streamAPIs = map[string]*signals.StreamAPI{}
	}
	h.streamAPIs[t.Issuer] = api
	return nil
}

// streamChanged logs and audits a stream whose transmitter changed its
// status. Its events are applied all the same (signals.ReceiverOptions).
func (h *SignalsHandler) streamChanged(issuer, previous string, now signals.StreamState) {
	log := h.logger.Info
	if now.Status != "enabled" {
		log = h.logger.Warn
	}
	log("stepup_signals: the transmitter changed the stream's status", zap.String("transmitter", issuer),
		zap.String("stream_id", now.StreamID), zap.String("previous", previous), zap.String("status", now.Status),
		zap.String("reason", now.Reason))
	h.app.recorder.StreamChanged(issuer, previous, now.Status, now.Reason)
}
