package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/signals"
)

// The stream routes of the SSF receiver (SSF 1.0 §8.1), by transmitter
// (its issuer, percent-encoded as one path segment):
//
//	POST /stepup/signals/{transmitter}/verify   ask the transmitter for a verification event
//	GET  /stepup/signals/{transmitter}/stream   the stream's status, as recorded and as the transmitter says

// SignalStreams finds the receiver of a transmitter's SETs and its stream
// management API.
type SignalStreams interface {
	// Stream returns issuer's receiver and stream management API (nil
	// when none is configured); ok is false when no stepup_signals
	// endpoint receives from issuer. An error: the receiver could not be
	// built.
	Stream(issuer string) (r *signals.Receiver, api *signals.StreamAPI, ok bool, err error)
}

var (
	errNoSignals   = &Error{apierror.Unavailable, "internal", "No stepup app is running."}
	errNoStream    = &Error{apierror.NotFound, "not_found", "No stepup_signals endpoint receives from this transmitter."}
	errNotManaged  = &Error{apierror.Conflict, "conflict", "No stream management API is configured for this transmitter (configuration_url and stream_id)."}
	errNoVerifyURL = &Error{apierror.Conflict, "conflict", "The transmitter's configuration metadata names no verification_endpoint."}
)

// streamError turns a failure of the receiver or the transmitter into a
// refusal: the transmitter's are 502, in words that never quote the
// credential nor what the transmitter wrote; the store's are 503.
func streamError(err error) error {
	var te *signals.TransmitterError
	switch {
	case errors.As(err, &te):
		msg := te.Message
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
		}
		return &Error{apierror.BadGateway, "transmitter_failed", msg}
	case errors.Is(err, signals.ErrNotManaged):
		return errNotManaged
	}
	return err // the store: 503, its text kept out
}

// stream finds the route's transmitter, or answers why not.
func (a *API) stream(w http.ResponseWriter, issuer string) (*signals.Receiver, *signals.StreamAPI, bool) {
	if a.cfg.SignalStreams == nil {
		fail(w, errNoSignals)
		return nil, nil, false
	}
	r, api, ok, err := a.cfg.SignalStreams.Stream(issuer)
	switch {
	case err != nil:
		fail(w, err)
		return nil, nil, false
	case !ok:
		fail(w, errNoStream)
		return nil, nil, false
	}
	return r, api, true
}

// verifyStream serves POST .../verify: a state from crypto/rand recorded
// in the store (shared by every instance, awaited for
// signals.DefaultVerificationTTL), then the transmitter asked. 202: the
// event comes later, to whichever instance the transmitter pushes it;
// GET .../stream says when it came.
func (a *API) verifyStream(w http.ResponseWriter, r *http.Request, args []string) {
	receiver, api, ok := a.stream(w, args[0])
	if !ok {
		return
	}
	if api == nil {
		fail(w, errNotManaged)
		return
	}
	requested := a.now().UTC().Truncate(time.Second)
	expires, err := receiver.RequestVerification(r.Context(), api, signals.DefaultVerificationTTL)
	switch {
	case errors.Is(err, signals.ErrNoEndpoint):
		fail(w, errNoVerifyURL)
		return
	case err != nil:
		fail(w, streamError(err))
		return
	}
	body, _ := json.Marshal(map[string]any{"transmitter": args[0], "stream_id": api.StreamID(),
		"requested_at": requested, "expires_at": expires.UTC().Truncate(time.Second)})
	apierror.WriteJSON(w, http.StatusAccepted, body)
}

// streamView is GET .../stream's answer.
type streamView struct {
	Transmitter string `json:"transmitter"`
	*signals.StreamState
	// Remote is what the transmitter's status endpoint says, when it has
	// one and a stream management API is configured.
	Remote *signals.RemoteStatus `json:"transmitter_status,omitempty"`
}

// readStream serves GET .../stream: the status the last stream-updated
// event gave and the last verification, and the transmitter's own word
// when it has a status endpoint. A transmitter that fails to say fails
// the call: an operator checking a stream must not read a stale status
// as the transmitter's.
func (a *API) readStream(w http.ResponseWriter, r *http.Request, args []string) {
	receiver, api, ok := a.stream(w, args[0])
	if !ok {
		return
	}
	recorded, err := receiver.Stream(r.Context(), args[0])
	if err != nil {
		fail(w, err)
		return
	}
	view := streamView{Transmitter: args[0], StreamState: recorded}
	if api != nil {
		remote, err := api.Status(r.Context())
		switch {
		case errors.Is(err, signals.ErrNoEndpoint):
		case err != nil:
			fail(w, streamError(err))
			return
		default:
			view.Remote = remote
		}
	}
	answer(w, view, nil)
}
