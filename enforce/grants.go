// Single-use grants at a route: spent by the request they were approved
// for, and under bind, compared with its body first.

package enforce

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// grantClaim is the access-token claim naming the single-use grant behind
// each step-up scope it carries.
const grantClaim = `"grt"`

// singleUseGrants reads scope → grant ID from a gateway-minted token; nil
// when it has none (the common case costs one byte search).
func (ro *Route) singleUseGrants(spender GrantSpender, claims *jwks.Claims) map[string]string {
	if spender == nil || claims.Issuer != ro.cfg.Issuer || !bytes.Contains(claims.Raw, []byte(grantClaim)) {
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

// useGrant consumes the single-use grants behind the scopes req needs, if
// the token's scopes come from such grants. It returns the consumed grant
// (nil when none was needed) or the refusal to send instead. Under bind,
// a request passes only by spending a single-use grant whose approved
// metadata the body matches: a scope held for good (session-bound, or from
// another issuer) approved no transaction.
func (ro *Route) useGrant(r *http.Request, spender GrantSpender, claims *jwks.Claims, rs *refusals, req *requirement) (*stepup.Grant, *Refusal) {
	grants := ro.singleUseGrants(spender, claims)
	used, refusal := ro.useRouteGrant(r, spender, claims, rs, req, grants)
	if refusal != nil {
		return nil, refusal
	}
	// A method's or tool's scopes (an MCP route, never under bind): each
	// one's grant is spent.
	for _, s := range req.extra {
		if id := grants[s]; id != "" {
			g, refusal := ro.consume(r, spender, id, claims, s, rs)
			if refusal != nil {
				return nil, refusal
			}
			used = g
		}
	}
	return used, nil
}

// useRouteGrant spends the grants behind the route's own scopes.
func (ro *Route) useRouteGrant(r *http.Request, spender GrantSpender, claims *jwks.Claims, rs *refusals, req *requirement, grants map[string]string) (*stepup.Grant, *Refusal) {
	scopes := req.scopes
	if req.any {
		// One scope suffices: prefer one the token holds for good.
		if ro.binding == nil {
			for _, s := range scopes {
				if claims.HasScope(s) && grants[s] == "" {
					return nil, nil
				}
			}
		}
		for _, s := range scopes {
			if id := grants[s]; id != "" {
				return ro.consume(r, spender, id, claims, s, rs)
			}
		}
		return nil, ro.unboundRefusal(rs)
	}
	if ro.binding != nil {
		// Every scope needs its grant: refuse before spending any of them.
		for _, s := range scopes {
			if grants[s] == "" {
				return nil, rs.stepUp(s)
			}
		}
	}
	var used *stepup.Grant
	for _, s := range scopes {
		id := grants[s]
		if id == "" {
			continue
		}
		g, refusal := ro.consume(r, spender, id, claims, s, rs)
		if refusal != nil {
			return nil, refusal
		}
		used = g
	}
	return used, nil
}

// unboundRefusal answers an `any` route whose token spent no grant: fine
// without bind (the scope is held for good), a step-up under bind.
func (ro *Route) unboundRefusal(rs *refusals) *Refusal {
	if ro.binding == nil {
		return nil
	}
	return rs.stepUp(ro.cfg.Scopes[0])
}

func (ro *Route) consume(r *http.Request, spender GrantSpender, id string, claims *jwks.Claims, scope string, rs *refusals) (*stepup.Grant, *Refusal) {
	g, err := spender.ConsumeGrant(r.Context(), id, claims.Subject, claims.SessionID, scope)
	if err != nil {
		if errors.Is(err, stepup.ErrUnavailable) {
			return nil, &rs.unavailable
		}
		// Used already, expired, or not this caller's: step up again.
		return nil, rs.stepUp(scope)
	}
	if ro.binding != nil {
		if refusal := ro.checkBinding(r, g, rs); refusal != nil {
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
func (ro *Route) checkBinding(r *http.Request, g *stepup.Grant, rs *refusals) *Refusal {
	err := ro.binding.CheckRequest(r.Header["Content-Type"], r.Header["Content-Encoding"], r.URL.RawQuery)
	if err == nil {
		var raw []byte
		if raw, err = ro.readBody(r); err == nil {
			err = ro.binding.CheckBody(raw, g.Scope, g.Metadata, ro.location(r))
		} else if errors.Is(err, ErrBodyTooLarge) {
			return &rs.tooLarge
		}
	}
	if err != nil {
		ro.debug("transaction binding refused the request", err)
		return rs.stepUp(g.Scope)
	}
	return nil
}
