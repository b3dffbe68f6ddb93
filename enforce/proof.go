package enforce

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Refusals of a DPoP request at the resource (RFC 9449 §7.1).
var (
	// ErrInvalidProof: the proof is missing, repeated, malformed, signed
	// with a key or algorithm not allowed, for another method or URL,
	// outside its iat window, replayed, or not bound to the token (ath).
	ErrInvalidProof = errors.New("enforce: invalid DPoP proof")
	// ErrKeyBinding: a valid proof made with another key than the one the
	// token is bound to (cnf.jkt). RFC 9449 answers it as invalid_token.
	ErrKeyBinding = errors.New("enforce: the proof's key is not the one the token is bound to")
	// ErrNonceRequired: the proof lacks a current server nonce.
	ErrNonceRequired = errors.New("enforce: DPoP nonce required")
	// ErrReplayStoreUnavailable: the jti could not be recorded; fail closed.
	ErrReplayStoreUnavailable = errors.New("enforce: DPoP replay store unavailable")
)

// ProofMarkers keeps the replay markers of DPoP proofs: Create fails with
// store.ErrExists when the key is already there (a shared store.Store).
type ProofMarkers interface {
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// ProofChecker verifies the proof of a request made with the DPoP scheme.
type ProofChecker struct {
	// Verifier checks the proof itself (typ, alg allow-list, public jwk,
	// signature, htm, htu, iat window).
	Verifier *dpop.Verifier
	// Store keeps a marker per used jti for the proof's whole iat window, so
	// that every instance sharing the store refuses a replay.
	Store ProofMarkers
	// Nonces, when set, makes a current server nonce mandatory (RFC 9449 §9).
	Nonces *dpop.Nonces
}

// Check verifies the DPoP proof in h for a request with this method and
// URL (scheme, host and path as the client addressed it), presenting token,
// which is bound to the key thumbprint jkt.
func (pc *ProofChecker) Check(ctx context.Context, h http.Header, method, url, token, jkt string) error {
	raw, err := dpop.FromHeader(h)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	var proof *dpop.Proof
	if pc.Nonces != nil {
		proof, err = pc.Verifier.VerifyWithNonce(raw, method, url, pc.Nonces)
	} else {
		proof, err = pc.Verifier.Verify(raw, method, url)
	}
	switch {
	case errors.Is(err, dpop.ErrNonceRequired):
		return ErrNonceRequired
	case err != nil:
		return fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	if !proof.BoundTo(token) {
		return fmt.Errorf("%w: ath is not the token's hash", ErrInvalidProof)
	}
	if subtle.ConstantTimeCompare([]byte(proof.Thumbprint), []byte(jkt)) != 1 {
		return ErrKeyBinding
	}
	// Last, once everything else holds: garbage costs no store round trip.
	err = pc.Store.Create(ctx, proofMarkerKey(jkt, proof.ID), []byte("1"), pc.markerTTL())
	switch {
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: jti replayed", ErrInvalidProof)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrReplayStoreUnavailable, err)
	}
	return nil
}

// markerTTL covers the iat window twice over: a proof is acceptable from
// iat-MaxFuture to iat+MaxAge on each instance's clock, and instances'
// clocks may differ.
func (pc *ProofChecker) markerTTL() time.Duration {
	maxAge, maxFuture := pc.Verifier.MaxAge, pc.Verifier.MaxFuture
	if maxAge <= 0 {
		maxAge = dpop.DefaultMaxAge
	}
	if maxFuture <= 0 {
		maxFuture = dpop.DefaultMaxFuture
	}
	return 2 * (maxAge + maxFuture)
}

// proofMarkerKey names the replay marker of a proof: the jti is hashed, so
// any client-chosen text makes a short, clean key.
func proofMarkerKey(jkt, jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return "rsjti:{" + jkt + "}:" + base64.RawURLEncoding.EncodeToString(sum[:])
}
