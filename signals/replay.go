package signals

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Store keys. A transmitter's keys share its issuer's hash as a Redis
// Cluster hash tag. Issuers, jti and states are written by the transmitter:
// they enter keys only hashed.

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func jtiKey(iss, jti string) string { return "ssf:{" + digest(iss) + "}:jti:" + digest(iss, jti) }
func stateKey(iss, state string) string {
	return "ssf:{" + digest(iss) + "}:state:" + digest(iss, state)
}

// mark records the SET's jti; ErrDuplicate when it was there already.
func (r *Receiver) mark(ctx context.Context, a *Accepted) error {
	err := r.store.Create(ctx, jtiKey(a.Issuer, a.JTI), []byte("1"), r.markerTTL())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrExists):
		return ErrDuplicate
	}
	return ErrUnavailable
}

// Forget removes an accepted SET's jti marker, for a caller that could not
// apply its decision and answers so that the transmitter retries. Best
// effort: a marker that stays makes the retry a duplicate, which changes
// nothing.
func (r *Receiver) Forget(ctx context.Context, a *Accepted) {
	_ = r.store.Delete(context.WithoutCancel(ctx), jtiKey(a.Issuer, a.JTI))
}

// ExpectState records a state the receiver sent in a verification request
// (SSF 1.0 §8.1.4.2): the verification event carrying it is accepted once,
// within ttl.
func (r *Receiver) ExpectState(ctx context.Context, issuer, state string, ttl time.Duration) error {
	if r.byIssuer[issuer] == nil || state == "" || len(state) > maxState {
		return errors.New("signals: unknown transmitter or unusable state")
	}
	if err := r.store.Set(ctx, stateKey(issuer, state), []byte("1"), ttl); err != nil {
		return ErrUnavailable
	}
	return nil
}

// takeState consumes an expected state; ErrState when the receiver did not
// ask for it (a transmitter's own verification event carries none).
func (r *Receiver) takeState(ctx context.Context, issuer, state string) error {
	_, err := r.store.Take(ctx, stateKey(issuer, state))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return ErrState
	}
	return ErrUnavailable
}
