package caddystepup

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/jose"
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
	// Transmitters whose SETs this endpoint accepts. At least one.
	Transmitters []SignalsTransmitter `json:"transmitters,omitempty"`

	// How old a SET's iat may be; its jti is remembered that long. Default:
	// 1h, at most 24h.
	MaxAge appconfig.Duration `json:"max_age,omitempty"`

	// How far ahead of this instance's clock a SET's iat may be. Default:
	// 30s, at most 60s.
	Leeway appconfig.Duration `json:"leeway,omitempty"`

	app      *App
	logger   *zap.Logger
	remotes  []string // pool keys of the transmitters' key sets
	resolved []signals.Transmitter
	// streamAPIs are the transmitters' stream management APIs, by issuer.
	streamAPIs map[string]*signals.StreamAPI
	receiver   *atomic.Pointer[boundReceiver] // set at Provision
}

// SignalsTransmitter is one SSF transmitter.
type SignalsTransmitter struct {
	// The transmitter's issuer: the SETs' iss, compared exactly. Required.
	Issuer string `json:"issuer,omitempty"`

	// Where its signing keys are published (its ssf-configuration's
	// jwks_uri). Required: https, or http on a loopback address.
	JWKSURL string `json:"jwks_url,omitempty"`

	// What its SETs' aud names this receiver by: one of these must be in
	// aud. Required.
	Audience []string `json:"audience,omitempty"`

	// The algorithms it signs with. Default: RS256 ES256. Asymmetric only.
	Algorithms []string `json:"algorithms,omitempty"`

	// The Authorization header value it sends with every push (the stream's
	// authorization_header, SSF 1.0 §6.1.1), e.g. `Bearer {env.SSF_TOKEN}`;
	// a push without it is refused with authentication_failed. Resolved at
	// Provision. Default: none (the signature alone vouches for a SET).
	Authorization string `json:"authorization,omitempty"`

	// The stream its verification and stream-updated events must name.
	// Default: any.
	StreamID string `json:"stream_id,omitempty"`

	// Poll delivery (RFC 8936): the transmitter's poll endpoint (the
	// stream's endpoint_url for urn:ietf:rfc:8936). Every instance polls
	// it; a SET is acted on once, and acknowledged in the next poll.
	// https, or http on a loopback address. Default: none (push only).
	PollURL string `json:"poll_url,omitempty"`

	// The Authorization header value each poll carries (the receiver's
	// credential at the transmitter), e.g. `Bearer {env.SSF_POLL_TOKEN}`.
	// Resolved at Provision. Default: none.
	PollAuthorization string `json:"poll_authorization,omitempty"`

	// How long to wait between polls that brought nothing more. Default:
	// 10s, at least 1s.
	PollInterval appconfig.Duration `json:"poll_interval,omitempty"`

	// Where its configuration metadata is (SSF 1.0 §7.2: its
	// /.well-known/ssf-configuration), for its stream management API: the
	// admin routes POST /stepup/signals/{issuer}/verify and GET
	// .../stream use its verification_endpoint and status_endpoint. Read
	// at the first call, and again after a call that failed; its issuer
	// must be Issuer exactly. https, or http on a loopback address; needs
	// stream_id. Default: none (the admin routes answer 409).
	ConfigurationURL string `json:"configuration_url,omitempty"`

	// The Authorization header value the receiver presents to the
	// transmitter's stream management API, e.g. `Bearer
	// {env.SSF_STREAM_TOKEN}` or `Bearer {file./run/secrets/ssf}`.
	// Resolved at Provision; never logged, never in an answer. Default:
	// none.
	StreamAuthorization string `json:"stream_authorization,omitempty"`

	// Other issuers whose users, sessions and tokens its iss_sub and jwt_id
	// subjects may name; its own issuer always counts. List the gateway's
	// own `issuer` when the transmitter knows the gateway's user and
	// session IDs. Default: none.
	SubjectIssuers []string `json:"subject_issuers,omitempty"`
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

// Validate checks every transmitter and the bounds. It changes nothing.
func (h *SignalsHandler) Validate() error {
	if len(h.Transmitters) == 0 {
		return errors.New("stepup_signals: at least one transmitter is required")
	}
	if h.MaxAge < 0 || time.Duration(h.MaxAge) > signals.MaxMaxAge {
		return fmt.Errorf("stepup_signals: max_age must be between 0 and %s", signals.MaxMaxAge)
	}
	if h.Leeway < 0 || time.Duration(h.Leeway) > signals.MaxLeeway {
		return fmt.Errorf("stepup_signals: leeway must be between 0 and %s", signals.MaxLeeway)
	}
	seen := map[string]bool{}
	for i, t := range h.Transmitters {
		if err := t.validate(); err != nil {
			return fmt.Errorf("stepup_signals: transmitter %d (%q): %v", i, t.Issuer, err)
		}
		if seen[t.Issuer] {
			return fmt.Errorf("stepup_signals: transmitter %q listed twice", t.Issuer)
		}
		seen[t.Issuer] = true
		if i < len(h.resolved) && t.Authorization != "" && h.resolved[i].Authorization == "" {
			return fmt.Errorf("stepup_signals: transmitter %q: authorization resolved to nothing", t.Issuer)
		}
	}
	return nil
}

func (t *SignalsTransmitter) validate() error {
	if t.Issuer == "" {
		return errors.New("issuer is required")
	}
	if t.JWKSURL == "" {
		return errors.New("jwks_url is required")
	}
	if err := urlcheck.HTTPSOrLoopback(t.JWKSURL); err != nil {
		return fmt.Errorf("jwks_url: %v", err)
	}
	if len(t.Audience) == 0 {
		return errors.New("audience is required")
	}
	for _, a := range t.Audience {
		if a == "" {
			return errors.New("an empty audience")
		}
	}
	for _, alg := range t.Algorithms {
		if !jose.Supported(alg) {
			return fmt.Errorf("algorithm %q not allowed (asymmetric signature algorithms only)", alg)
		}
	}
	if t.PollURL != "" {
		if err := urlcheck.HTTPSOrLoopback(t.PollURL); err != nil {
			return fmt.Errorf("poll_url: %v", err)
		}
	}
	if t.PollInterval != 0 && time.Duration(t.PollInterval) < time.Second {
		return errors.New("poll_interval must be at least 1s")
	}
	return t.validateStreamWords()
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
