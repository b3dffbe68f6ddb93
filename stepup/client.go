package stepup

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// The client of a request, as every flow sees it: what it told, and the
// DPoP proofs it may use once. Where it is counted (its address's budgets
// and failures) is limits.go's and guessing.go's.

// ClientInfo describes the client of a request.
type ClientInfo struct {
	UserAgent string
	IP        string // as Caddy determined it (trusted proxies applied)
	Device    string // the device cookie the client sent, if any
	// DeviceID is the install's ID a mobile SDK sends (X-Device-Id): the
	// client's word, kept on its session for people to read, never used
	// to decide anything.
	DeviceID string
}

// markProofUsed refuses a DPoP proof whose jti was seen before (within the
// window in which its iat is acceptable).
func (e *Engine) markProofUsed(ctx context.Context, proof *dpop.Proof) error {
	err := e.cfg.Store.Create(ctx, proofJTIKey(proof.Thumbprint, proof.ID), []byte("1"), 2*time.Minute)
	if errors.Is(err, store.ErrExists) {
		return ErrInvalidDPoP
	}
	return storeErr(err)
}
