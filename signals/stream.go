package signals

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// StreamState is what the receiver knows of a transmitter's stream: the
// status its last stream-updated event gave (SSF 1.0 §8.1.5; "enabled"
// until one says otherwise) and when a verification event last arrived
// (§8.1.4).
type StreamState struct {
	StreamID   string    `json:"stream_id,omitempty"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

// streamMemory is how long a stream's state is kept after its last event.
const streamMemory = 90 * 24 * time.Hour

func streamKey(iss string) string { return "ssf:{" + digest(iss) + "}:stream" }

// Stream reads a transmitter's stream state.
func (r *Receiver) Stream(ctx context.Context, issuer string) (*StreamState, error) {
	raw, err := r.store.Get(ctx, streamKey(issuer))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &StreamState{Status: "enabled"}, nil
	case err != nil:
		return nil, ErrUnavailable
	}
	var s StreamState
	if err := json.Unmarshal(raw, &s); err != nil {
		return &StreamState{Status: "enabled"}, nil
	}
	return &s, nil
}

// RecordStream keeps what a verification or stream-updated event says of
// its stream, and tells ReceiverOptions.StreamChanged when the status
// changed. Two instances recording at once may lose one of the two
// updates' times, never a status: each writes a whole state read just
// before.
func (r *Receiver) RecordStream(ctx context.Context, a *Accepted) (*StreamState, error) {
	d := a.Decision
	if d.Action != ActionVerification && d.Action != ActionStreamUpdated {
		return nil, nil
	}
	s, err := r.Stream(ctx, a.Issuer)
	if err != nil {
		return nil, err
	}
	now := r.now().UTC().Truncate(time.Second)
	previous := s.Status
	s.StreamID = d.StreamID
	if d.Action == ActionVerification {
		s.VerifiedAt = now
	} else {
		s.Status, s.Reason, s.UpdatedAt = d.Status, d.Reason, now
	}
	raw, _ := json.Marshal(s)
	if err := r.store.Set(ctx, streamKey(a.Issuer), raw, streamMemory); err != nil {
		return nil, ErrUnavailable
	}
	if d.Action == ActionStreamUpdated && r.streamChanged != nil && previous != s.Status {
		r.streamChanged(a.Issuer, previous, *s)
	}
	return s, nil
}
