package signals

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"
)

// DefaultVerificationTTL is how long the receiver awaits the verification
// event it asked for: the transmitter may send it after its answer, and
// behind other events of the stream.
const DefaultVerificationTTL = 10 * time.Minute

// ErrNotManaged: the transmitter has no stream management API configured.
var ErrNotManaged = errors.New("signals: no stream management API is configured for this transmitter")

// RequestVerification asks api's transmitter for a
// verification event (SSF 1.0 §8.1.4.2). The state is 32 bytes of
// crypto/rand, recorded in the store before the call, so that whichever
// instance sharing the store receives the event accepts it, once, within
// ttl (DefaultVerificationTTL when 0); a call that fails forgets it. It
// returns when the awaited event expires.
func (r *Receiver) RequestVerification(ctx context.Context, api *StreamAPI, ttl time.Duration) (time.Time, error) {
	if api == nil {
		return time.Time{}, ErrNotManaged
	}
	issuer := api.opts.Issuer
	if ttl <= 0 {
		ttl = DefaultVerificationTTL
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	state := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := r.ExpectState(ctx, issuer, state, ttl); err != nil {
		return time.Time{}, err
	}
	expires := r.now().Add(ttl)
	if err := api.RequestVerification(ctx, state); err != nil {
		_ = r.store.Delete(context.WithoutCancel(ctx), stateKey(issuer, state))
		return time.Time{}, err
	}
	return expires, nil
}
