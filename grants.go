package caddystepup

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// grantClaim is the access-token claim naming the single-use grant behind
// each step-up scope it carries.
const grantClaim = `"grt"`

// singleUseGrants reads scope → grant ID from a gateway-minted token; nil
// when it has none (the common case costs one byte search).
func (h *Handler) singleUseGrants(rt *runtime, claims *jwks.Claims) map[string]string {
	if rt.engine == nil || claims.Issuer != h.app.Issuer || !bytes.Contains(claims.Raw, []byte(grantClaim)) {
		return nil
	}
	var c struct {
		Grants map[string]string `json:"grt"`
	}
	if err := json.Unmarshal(claims.Raw, &c); err != nil {
		return nil
	}
	return c.Grants
}

// useGrant consumes the single-use grants behind the route's scopes, if
// the token's scopes come from such grants. It returns the consumed grant
// (nil when none was needed) or the response to send instead. Under bind,
// a request passes only by spending a single-use grant whose approved
// metadata the body matches: a scope held for good (session-bound, or from
// another issuer) approved no transaction.
func (h *Handler) useGrant(r *http.Request, rt *runtime, claims *jwks.Claims, resp *enforcementResponses) (*stepup.Grant, *response) {
	grants := h.singleUseGrants(rt, claims)
	if h.Any {
		// One scope suffices: prefer one the token holds for good.
		if h.binding == nil {
			for _, s := range h.Scopes {
				if claims.HasScope(s) && grants[s] == "" {
					return nil, nil
				}
			}
		}
		for _, s := range h.Scopes {
			if id := grants[s]; id != "" {
				return h.consume(r, rt.engine, id, claims, s, resp)
			}
		}
		return nil, h.unboundRefusal(resp)
	}
	if h.binding != nil {
		// Every scope needs its grant: refuse before spending any of them.
		for _, s := range h.Scopes {
			if grants[s] == "" {
				return nil, resp.stepUp(s)
			}
		}
	}
	var used *stepup.Grant
	for _, s := range h.Scopes {
		id := grants[s]
		if id == "" {
			continue
		}
		g, refusal := h.consume(r, rt.engine, id, claims, s, resp)
		if refusal != nil {
			return nil, refusal
		}
		used = g
	}
	return used, nil
}

// unboundRefusal answers an `any` route whose token spent no grant: fine
// without bind (the scope is held for good), a step-up under bind.
func (h *Handler) unboundRefusal(resp *enforcementResponses) *response {
	if h.binding == nil {
		return nil
	}
	return resp.stepUp(h.Scopes[0])
}

func (h *Handler) consume(r *http.Request, engine *stepup.Engine, id string, claims *jwks.Claims, scope string, resp *enforcementResponses) (*stepup.Grant, *response) {
	g, err := engine.ConsumeGrant(r.Context(), id, claims.Subject, claims.SessionID, scope)
	if err != nil {
		if errors.Is(err, stepup.ErrUnavailable) {
			return nil, &resp.unavailable
		}
		// Used already, expired, or not this caller's: step up again.
		return nil, resp.stepUp(scope)
	}
	if h.binding != nil {
		if refusal := h.checkBinding(r, g, resp); refusal != nil {
			// The grant was approved for another transaction; trying to use
			// it for this one spends it.
			return nil, refusal
		}
	}
	return g, nil
}

// checkBinding compares the request with the transaction the grant was
// approved for. The body is read whole and handed to the upstream as the
// exact bytes checked.
func (h *Handler) checkBinding(r *http.Request, g *stepup.Grant, resp *enforcementResponses) *response {
	err := h.binding.CheckRequest(r.Header["Content-Type"], r.Header["Content-Encoding"], r.URL.RawQuery)
	if err == nil {
		var raw []byte
		if raw, err = h.readBody(r); err == nil {
			err = h.binding.CheckBody(raw, g.Metadata)
		} else if errors.Is(err, enforce.ErrBodyTooLarge) {
			return &resp.tooLarge
		}
	}
	if err != nil {
		h.debug("transaction binding refused the request", err)
		return resp.stepUp(g.Scope)
	}
	return nil
}
