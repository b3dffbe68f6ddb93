package caddystepup

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/signals"
)

func init() {
	caddy.RegisterModule(SignalsHandler{})
}

// SignalsHandler (`http.handlers.stepup_signals`) is an OpenID Shared
// Signals Framework 1.0 receiver: configured transmitters push Security
// Event Tokens (RFC 8417) to it by HTTP POST (RFC 8935), carrying CAEP 1.0
// and RISC 1.0 events, and the gateway acts on them at once:
//
//   - CAEP session-revoked, RISC sessions-revoked, account-disabled,
//     account-purged and credential-compromise: the subject's (or, for a
//     session-revoked naming a session, that session's) access tokens are
//     refused by every instance's `stepup`, and its gateway sessions end;
//   - CAEP credential-change: the user's gateway sessions end;
//   - CAEP assurance-level-change to a lower level: the user's grants and
//     session-bound scopes are revoked, and the tokens carrying them
//     refused, so that the next request that needs one steps up again;
//   - SSF verification and stream-updated events: recorded, so that a
//     transmitter can check the stream; a status change is logged and
//     audited, and a paused or disabled stream's events are still
//     applied (each withdraws access). With configuration_url, the admin
//     routes ask the transmitter for a verification event and read its
//     status (SSF 1.0 §8.1).
//
// Other events are accepted and ignored. Answers are RFC 8935's: 202 with
// no body for an accepted SET (and for one accepted before: a transmitter
// retrying a push whose answer it lost), 400 with
// `{"err":"<code>","description":"..."}` for a refused one, 405 for other
// methods, 503 when the transmitter's keys or the store cannot be reached
// (the transmitter retries). The handler answers every request that
// reaches it: give it a path (`stepup_signals /ssf/events`).
//
// It needs the `stepup` app; its store keeps the jti markers, so a SET is
// acted on once whichever instance receives it.
type SignalsHandler struct {
	appconfig.SignalsConfig // its JSON words and their rules (appconfig/signals.go)

	app      *App
	logger   *zap.Logger
	remotes  []string // pool keys of the transmitters' key sets
	resolved []signals.Transmitter
	// streamAPIs are the transmitters' stream management APIs, by issuer.
	streamAPIs map[string]*signals.StreamAPI
	receiver   *atomic.Pointer[boundReceiver] // set at Provision
}

// boundReceiver is the receiver of the app runtime it was built for: a
// reload brings a new runtime (store, clock), and with it a new receiver.
type boundReceiver struct {
	rt       *appRuntime
	receiver *signals.Receiver
}

// CaddyModule returns the Caddy module information.
func (SignalsHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepup_signals",
		New: func() caddy.Module { return new(SignalsHandler) },
	}
}

// Provision resolves the Authorization values, acquires each
// transmitter's key set and attaches the handler to the stepup app.
func (h *SignalsHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.receiver = new(atomic.Pointer[boundReceiver])
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	h.app = app
	repl := caddy.NewReplacer()
	for _, t := range h.Transmitters {
		rt := signals.Transmitter{Issuer: t.Issuer, Audiences: t.Audience, Algorithms: t.Algorithms,
			Authorization: repl.ReplaceKnown(t.Authorization, ""), StreamID: t.StreamID, SubjectIssuers: t.SubjectIssuers}
		if len(rt.Algorithms) == 0 {
			rt.Algorithms = signals.DefaultAlgorithms
		}
		if t.JWKSURL != "" {
			remote, key, err := acquireRemoteKeys(t.JWKSURL, 0, h.logger)
			if err != nil {
				return fmt.Errorf("stepup_signals: transmitter %q: jwks_url: %v", t.Issuer, err)
			}
			h.remotes = append(h.remotes, key)
			rt.Keys = remote
		}
		h.resolved = append(h.resolved, rt)
		if t.PollURL != "" {
			h.startPolling(ctx, rt.Issuer, t, repl.ReplaceKnown(t.PollAuthorization, ""))
		}
		if err := h.provisionStreamAPI(repl, t); err != nil {
			return err
		}
	}
	app.signalStreams.register(h)
	return nil
}

// Validate checks the config's words (appconfig) and that every
// authorization resolved to something. It changes nothing.
func (h *SignalsHandler) Validate() error {
	if err := h.SignalsConfig.Validate(); err != nil {
		return err
	}
	for i, t := range h.Transmitters {
		if i < len(h.resolved) && t.Authorization != "" && h.resolved[i].Authorization == "" {
			return fmt.Errorf("stepup_signals: transmitter %q: authorization resolved to nothing", t.Issuer)
		}
	}
	return nil
}

// Cleanup releases the transmitters' key sets.
func (h *SignalsHandler) Cleanup() error {
	for _, key := range h.remotes {
		releaseRemoteKeys(key, h.logger)
	}
	h.remotes = nil
	if h.app != nil {
		h.app.signalStreams.unregister(h)
	}
	return nil
}

// receiverFor is the receiver over rt's store and clock, built once per
// runtime.
func (h *SignalsHandler) receiverFor(rt *appRuntime) (*signals.Receiver, error) {
	if b := h.receiver.Load(); b != nil && b.rt == rt {
		return b.receiver, nil
	}
	r, err := signals.NewReceiver(signals.ReceiverOptions{Transmitters: h.resolved, Store: rt.store,
		MaxAge: time.Duration(h.MaxAge), Leeway: time.Duration(h.Leeway), Now: rt.now, StreamChanged: h.streamChanged})
	if err != nil {
		return nil, err
	}
	h.receiver.Store(&boundReceiver{rt: rt, receiver: r})
	return r, nil
}

// ServeHTTP receives one pushed SET.
func (h *SignalsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return nil
	}
	rt := h.app.awaitRuntime(r.Context())
	if rt == nil {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	}
	receiver, err := h.receiverFor(rt)
	if err != nil {
		h.logger.Error("stepup_signals: building the receiver", zap.Error(err))
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	}
	h.processor().ServePush(w, r, h.gateway(rt), receiver)
	return nil
}

// processor counts and audits with the config's recorder.
func (h *SignalsHandler) processor() *signals.Processor {
	return &signals.Processor{Recorder: h.app.recorder, Logger: h.logger}
}

// gateway is what a decision is applied to with rt.
func (h *SignalsHandler) gateway(rt *appRuntime) signals.Gateway {
	g := signals.Gateway{Revocations: rt.revocations, Issuer: h.app.Issuer,
		Lifetime: h.app.revocationLifetime, Now: rt.now}
	if rt.engine != nil { // no typed nil in the interface
		g.Engine = rt.engine
	}
	return g
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SignalsHandler)(nil)
	_ caddy.Validator             = (*SignalsHandler)(nil)
	_ caddy.CleanerUpper          = (*SignalsHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*SignalsHandler)(nil)
)
