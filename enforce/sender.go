// Sender-constrained access tokens at a route (RFC 9449 §7).

package enforce

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// checkSenderConstraint applies RFC 9449 §7: a token bound to a key (cnf)
// only with the DPoP scheme and a proof of that key; the DPoP scheme only
// with such a token. Tokens the gateway mints are bearer tokens. On a route
// with dpop_nonce, a fresh nonce is put in *nonce for the response.
func (ro *Route) checkSenderConstraint(r *http.Request, deps *Deps, cred Credential, claims *jwks.Claims, rs *refusals, nonce *string) *Refusal {
	if cred.Scheme == Bearer {
		if claims.Confirmed {
			return &rs.invalidToken // no downgrade to a bearer token
		}
		return nil
	}
	if claims.JKT == "" {
		return &rs.invalidToken
	}
	proofs := ProofChecker{Verifier: deps.Proofs, Store: deps.Markers}
	if ro.cfg.DPoPNonce {
		proofs.Nonces = deps.Nonces
	}
	err := proofs.Check(r.Context(), r.Header, r.Method, ro.cfg.RequestURL(r), cred.Token, claims.JKT)
	if proofs.Nonces != nil {
		*nonce = proofs.Nonces.Issue()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrKeyBinding):
		return &rs.invalidToken
	case errors.Is(err, ErrNonceRequired):
		return &rs.useNonce
	case errors.Is(err, ErrReplayStoreUnavailable):
		ro.cfg.Logger.Error("recording a DPoP proof: store unavailable", zap.Error(err))
		return &rs.unavailable
	}
	ro.debug("DPoP proof refused", err)
	return &rs.invalidProof
}
