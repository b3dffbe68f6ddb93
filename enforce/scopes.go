// What a valid token must also show at a route: its scopes, and how and
// how recently its user authenticated (RFC 9470).

package enforce

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// Catalogue is what the app's scope blocks tell a route, by scope name: a
// scope listed can be stepped up (a missing one is a step-up challenge,
// not a 403).
type Catalogue map[string]ScopeEntry

// ScopeEntry is one scope block as a route sees it.
type ScopeEntry struct {
	// Grantable: not blocked, so a step-up request for it can succeed.
	Grantable bool
	// ACR are the acr values a step-up of it may set.
	ACR []string
}

// CanStepUp reports whether scope has a scope block.
func (c Catalogue) CanStepUp(scope string) bool {
	_, ok := c[scope]
	return ok
}

// Grantable reports whether a step-up request for scope can succeed.
func (c Catalogue) Grantable(scope string) bool { return c[scope].Grantable }

// EarnsACR reports whether a step-up of scope can set one of acrs.
func (c Catalogue) EarnsACR(scope string, acrs []string) bool {
	for _, v := range c[scope].ACR {
		if slices.Contains(acrs, v) {
			return true
		}
	}
	return false
}

// requirement is what a token must show for one request: the route's
// scopes, acr and max_age, and on an MCP route what the request's method
// or tool adds to them.
type requirement struct {
	scopes []string // the route's: all of them, or one with any
	any    bool
	extra  []string // a method's or tool's, each required
	acr    []string // the token's acr must be one of these; none: any acr
	maxAge time.Duration
	// Step-up advice for acr and max_age challenges (plan).
	acrValues  string   // acr, space-delimited
	acrScopes  []string // scopes whose step-up earns a listed acr, the requirement's own first
	renewScope string   // the requirement's first scope that can be granted
}

// authenticationProblem is nil when the token has the scopes req needs, one
// of its acr values and an auth_time within its max_age. Otherwise: 403
// insufficient_scope when a missing scope cannot be stepped up, else RFC
// 9470's 401 insufficient_user_authentication naming all that is missing.
func (ro *Route) authenticationProblem(rs *refusals, claims *jwks.Claims, now func() time.Time, req *requirement) *Refusal {
	missing := missingScopes(req.scopes, req.any, claims.Scope)
	if len(req.extra) > 0 {
		missing = append(missing, missingScopes(req.extra, false, claims.Scope)...)
	}
	acrUnmet := len(req.acr) > 0 && !slices.Contains(req.acr, claims.ACR)
	// The clock is read only on routes with max_age: the others don't pay
	// for it on every request.
	stale := req.maxAge > 0 && (claims.AuthTime.IsZero() || now().Sub(claims.AuthTime) > req.maxAge)
	if len(missing) == 0 && !acrUnmet && !stale {
		return nil
	}
	var steppable []string
	for _, s := range missing {
		if ro.scopes.CanStepUp(s) {
			steppable = append(steppable, s)
		}
	}
	if len(missing) > 0 && len(steppable) == 0 {
		if ro.mcp != nil {
			return rs.insufficientScope(ro.mcp.scopesToRequest(req, claims.Scope))
		}
		return rs.insufficientScope(strings.Join(missing, " "))
	}
	need := authnNeed{scopes: strings.Join(steppable, " "), stepUpScope: req.stepUpScope(steppable, acrUnmet)}
	if acrUnmet {
		need.acrValues = req.acrValues
	}
	if stale {
		need.maxAge = int64(req.maxAge / time.Second)
	}
	return rs.userAuthentication(need)
}

// stepUpScope is the scope to request so that a step-up meets the need:
// when the acr is unmet, one whose step-up earns a listed acr (a missing
// one of the requirement's first); else the first missing scope; else, for
// a stale authentication only, the requirement's first scope that can be
// granted (stepping up again renews auth_time). "" when none will do.
func (req *requirement) stepUpScope(steppable []string, acrUnmet bool) string {
	if acrUnmet {
		for _, s := range req.acrScopes {
			if slices.Contains(steppable, s) {
				return s
			}
		}
		if len(req.acrScopes) > 0 {
			return req.acrScopes[0]
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
	return req.renewScope
}

// plan fills acrValues, acrScopes and renewScope from the scope catalogue.
func (req *requirement) plan(scopes Catalogue) {
	req.acrValues = strings.Join(req.acr, " ")
	req.acrScopes, req.renewScope = nil, ""
	own := append(slices.Clip(req.scopes), req.extra...)
	for _, s := range own {
		if scopes.Grantable(s) {
			if req.renewScope == "" {
				req.renewScope = s
			}
			if scopes.EarnsACR(s, req.acr) {
				req.acrScopes = append(req.acrScopes, s)
			}
		}
	}
	others := make([]string, 0, len(scopes))
	for s := range scopes {
		if !slices.Contains(own, s) && scopes.Grantable(s) && scopes.EarnsACR(s, req.acr) {
			others = append(others, s)
		}
	}
	sort.Strings(others)
	req.acrScopes = append(req.acrScopes, others...)
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
