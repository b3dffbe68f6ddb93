// Sender-constrained access tokens at the stepup handler (RFC 9449).

package caddystepup

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// only with the DPoP scheme and a proof of that key; the DPoP scheme only
// with such a token. Tokens the gateway mints are bearer tokens.
func (h *Handler) checkSenderConstraint(w http.ResponseWriter, r *http.Request, rt *runtime, cred enforce.Credential, claims *jwks.Claims, resp *enforcementResponses) *response {
	if cred.Scheme == enforce.Bearer {
		if claims.Confirmed {
			return &resp.invalidToken // no downgrade to a bearer token
		}
		return nil
	}
	if claims.JKT == "" {
		return &resp.invalidToken
	}
	proofs := enforce.ProofChecker{Verifier: rt.resourceProofs, Store: rt.store}
	if h.DPoPNonce {
		proofs.Nonces = rt.nonces
	}
	err := proofs.Check(r.Context(), r.Header, r.Method, h.requestURL(r), cred.Token, claims.JKT)
	if proofs.Nonces != nil {
		w.Header().Set("DPoP-Nonce", proofs.Nonces.Issue())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, enforce.ErrKeyBinding):
		return &resp.invalidToken
	case errors.Is(err, enforce.ErrNonceRequired):
		return &resp.useNonce
	case errors.Is(err, enforce.ErrReplayStoreUnavailable):
		h.logger.Error("recording a DPoP proof: store unavailable", zap.Error(err))
		return &resp.unavailable
	}
	h.debug("DPoP proof refused", err)
	return &resp.invalidProof
}

// requestURL is the URL the client addressed, as a DPoP proof's htu names
// it: scheme and host as the client saw them (from X-Forwarded-Proto and
// X-Forwarded-Host when a trusted proxy sent the request) and the path
// before any rewrite.
func (h *Handler) requestURL(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		if v := lastHeaderValue(r.Header, "X-Forwarded-Proto"); v != "" {
			scheme = v
		}
		if v := lastHeaderValue(r.Header, "X-Forwarded-Host"); v != "" {
			host = v
		}
	}
	path := r.URL.EscapedPath()
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		path = orig.URL.EscapedPath()
	}
	return scheme + "://" + host + path
}

// lastHeaderValue is the last comma-separated value of a header: the one
// the nearest (trusted) proxy wrote, as Caddy's reverse proxy reads it.
func lastHeaderValue(h http.Header, name string) string {
	values := h.Values(name)
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
