// What a valid token must also show at a route: its scopes, and how and
// how recently its user authenticated (RFC 9470).

package caddystepup

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// authenticationProblem is nil when the token has the route's scopes, one
// of its acr values and an auth_time within its max_age. Otherwise: 403
// insufficient_scope when a missing scope cannot be stepped up, else RFC
// 9470's 401 insufficient_user_authentication naming all that is missing.
func (h *Handler) authenticationProblem(resp *enforcementResponses, claims *jwks.Claims, now func() time.Time) *response {
	missing := missingScopes(h.Scopes, h.Any, claims.Scope)
	acrUnmet := len(h.ACR) > 0 && !slices.Contains(h.ACR, claims.ACR)
	// The clock is read only on routes with max_age: the others don't pay
	// for it on every request.
	stale := h.MaxAge > 0 && (claims.AuthTime.IsZero() || now().Sub(claims.AuthTime) > time.Duration(h.MaxAge))
	if len(missing) == 0 && !acrUnmet && !stale {
		return nil
	}
	var steppable []string
	for _, s := range missing {
		if h.app.canStepUp(s) {
			steppable = append(steppable, s)
		}
	}
	if len(missing) > 0 && len(steppable) == 0 {
		return resp.insufficientScope(strings.Join(missing, " "))
	}
	need := authnNeed{scopes: strings.Join(steppable, " "), stepUpScope: h.stepUpScope(steppable, acrUnmet)}
	if acrUnmet {
		need.acrValues = h.acrValues
	}
	if stale {
		need.maxAge = int64(time.Duration(h.MaxAge) / time.Second)
	}
	return resp.userAuthentication(need)
}

// stepUpScope is the scope to request so that a step-up meets the need:
// when the acr is unmet, one whose step-up earns a listed acr (a missing
// one of the route's first); else the first missing scope; else, for a
// stale authentication only, the route's first scope that can be granted
// (stepping up again renews auth_time). "" when none will do.
func (h *Handler) stepUpScope(steppable []string, acrUnmet bool) string {
	if acrUnmet {
		for _, s := range h.acrScopes {
			if slices.Contains(steppable, s) {
				return s
			}
		}
		if len(h.acrScopes) > 0 {
			return h.acrScopes[0]
		}
		// No step-up earns a listed acr: name a missing scope the route
		// needs anyway, never one that would only renew auth_time.
		if len(steppable) > 0 {
			return steppable[0]
		}
		return ""
	}
	if len(steppable) > 0 {
		return steppable[0]
	}
	return h.renewScope
}

// planStepUps fills acrScopes and renewScope from the app's scope blocks.
func (h *Handler) planStepUps() {
	h.acrValues = strings.Join(h.ACR, " ")
	h.acrScopes, h.renewScope = nil, ""
	for _, s := range h.Scopes {
		if h.app.grantable(s) {
			if h.renewScope == "" {
				h.renewScope = s
			}
			if h.app.earnsACR(s, h.ACR) {
				h.acrScopes = append(h.acrScopes, s)
			}
		}
	}
	others := make([]string, 0, len(h.app.Scopes))
	for s := range h.app.Scopes {
		if !slices.Contains(h.Scopes, s) && h.app.grantable(s) && h.app.earnsACR(s, h.ACR) {
			others = append(others, s)
		}
	}
	sort.Strings(others)
	h.acrScopes = append(h.acrScopes, others...)
}

// missingScopes returns the required scopes the token lacks: all of them
// that are absent, or, with any, all of them when none is present.
func missingScopes(required []string, any bool, have []string) []string {
	if len(required) == 0 {
		return nil
	}
	var missing []string
	for _, s := range required {
		if slices.Contains(have, s) {
			if any {
				return nil
			}
			continue
		}
		missing = append(missing, s)
	}
	return missing
}
