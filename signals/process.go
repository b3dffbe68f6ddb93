package signals

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/apierror"
)

// Outcomes of a received SET, besides the RFC 8935 error codes of
// refusals, as counted and audited.
const (
	OutcomeAccepted    = "accepted"
	OutcomeDuplicate   = "duplicate"
	OutcomeUnavailable = "unavailable"
	// UnknownEvent labels refused SETs: what a refused SET says its event
	// is, nobody vouched for.
	UnknownEvent = "unknown"
)

// Recorder counts and audits each received SET: event is its short name
// (UnknownEvent when refused), outcome how it ended, effect what it did
// ("" for none).
type Recorder interface {
	Signal(event, outcome, effect string)
}

// Processor acts on what a Receiver made of each SET, pushed or polled,
// and counts and audits it.
type Processor struct {
	Recorder Recorder
	Logger   *zap.Logger
}

// Process acts on what the receiver made of one SET (its Receive or
// ReceivePolled answer: accepted, err), and says how it ended: accepted
// (nil, nil; a duplicate too), refused (the refusal), or not processed
// (an error: the transmitter is to deliver it again).
func (p *Processor) Process(ctx context.Context, g Gateway, receiver *Receiver, accepted *Accepted, err error) (*Refusal, error) {
	var refusal *Refusal
	switch {
	case errors.As(err, &refusal):
		p.Recorder.Signal(UnknownEvent, refusal.Code, "")
		return refusal, nil
	case errors.Is(err, ErrDuplicate):
		p.Recorder.Signal(accepted.Decision.Name, OutcomeDuplicate, "")
		return nil, nil
	case err != nil:
		p.unavailable(UnknownEvent, err)
		return nil, err
	}
	effect, err := Apply(ctx, g, receiver, accepted)
	if err != nil {
		// Nothing half-done is left to count on: the marker goes, and the
		// transmitter's next delivery does it all again (every action is
		// idempotent).
		receiver.Forget(ctx, accepted)
		p.unavailable(accepted.Decision.Name, err)
		return nil, err
	}
	p.Recorder.Signal(accepted.Decision.Name, OutcomeAccepted, effect.String())
	return nil, nil
}

// unavailable logs and counts a SET that could not be processed.
func (p *Processor) unavailable(event string, err error) {
	p.Logger.Warn("stepup_signals: a SET could not be processed; the transmitter will deliver it again", zap.Error(err))
	p.Recorder.Signal(event, OutcomeUnavailable, "")
}

// ServePush receives one pushed SET (RFC 8935) from a POST and answers
// it: 202 with no body when accepted (or accepted before), 400 with
// `{"err":"<code>","description":"..."}` when refused, 503 with
// Retry-After when it could not be processed.
func (p *Processor) ServePush(w http.ResponseWriter, r *http.Request, g Gateway, receiver *Receiver) {
	contentType, authorization := r.Header.Get("Content-Type"), r.Header.Get("Authorization")
	if len(r.Header.Values("Content-Type")) > 1 {
		contentType = "" // refused as none: two are not one
	}
	if len(r.Header.Values("Authorization")) > 1 {
		authorization = "" // refused as none, where one is agreed
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(receiver.MaxBytes())+1))
	if err != nil {
		body = nil // refused as not a JWS
	}
	accepted, err := receiver.Receive(r.Context(), Delivery{ContentType: contentType,
		Authorization: authorization, Body: body})
	refusal, err := p.Process(r.Context(), g, receiver, accepted, err)
	switch {
	case refusal != nil:
		body, _ := json.Marshal(map[string]string{"err": refusal.Code, "description": refusal.Description})
		apierror.WriteJSON(w, http.StatusBadRequest, body)
	case err != nil:
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

// PollOnce runs one poll and processes what it brought: each SET is
// acknowledged when accepted (or a duplicate), reported as refused when
// refused, and left for the transmitter to deliver again when it could
// not be processed. It reports whether the transmitter has more waiting;
// a failed poll is logged with logger.
func (p *Processor) PollOnce(ctx context.Context, poller *Poller, g Gateway, receiver *Receiver, logger *zap.Logger) bool {
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
		refusal, err := p.Process(ctx, g, receiver, accepted, err)
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

// PollEvery calls poll until ctx ends: again at once while it reports
// more waiting, after interval otherwise.
func PollEvery(ctx context.Context, interval time.Duration, poll func(context.Context) (more bool)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if poll(ctx) {
			timer.Reset(0)
		} else {
			timer.Reset(interval)
		}
	}
}
