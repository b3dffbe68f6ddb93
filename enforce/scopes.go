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

// authenticationProblem is nil when the token has the route's scopes, one
// of its acr values and an auth_time within its max_age. Otherwise: 403
// insufficient_scope when a missing scope cannot be stepped up, else RFC
// 9470's 401 insufficient_user_authentication naming all that is missing.
func (ro *Route) authenticationProblem(rs *refusals, claims *jwks.Claims, now func() time.Time) *Refusal {
	cfg := &ro.cfg
	missing := missingScopes(cfg.Scopes, cfg.Any, claims.Scope)
	acrUnmet := len(cfg.ACR) > 0 && !slices.Contains(cfg.ACR, claims.ACR)
	// The clock is read only on routes with max_age: the others don't pay
	// for it on every request.
	stale := cfg.MaxAge > 0 && (claims.AuthTime.IsZero() || now().Sub(claims.AuthTime) > cfg.MaxAge)
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
		return rs.insufficientScope(strings.Join(missing, " "))
	}
	need := authnNeed{scopes: strings.Join(steppable, " "), stepUpScope: ro.stepUpScope(steppable, acrUnmet)}
	if acrUnmet {
		need.acrValues = ro.acrValues
	}
	if stale {
		need.maxAge = int64(cfg.MaxAge / time.Second)
	}
	return rs.userAuthentication(need)
}

// stepUpScope is the scope to request so that a step-up meets the need:
// when the acr is unmet, one whose step-up earns a listed acr (a missing
// one of the route's first); else the first missing scope; else, for a
// stale authentication only, the route's first scope that can be granted
// (stepping up again renews auth_time). "" when none will do.
func (ro *Route) stepUpScope(steppable []string, acrUnmet bool) string {
	if acrUnmet {
		for _, s := range ro.acrScopes {
			if slices.Contains(steppable, s) {
				return s
			}
		}
		if len(ro.acrScopes) > 0 {
			return ro.acrScopes[0]
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
	return ro.renewScope
}

// planStepUps fills acrScopes and renewScope from the scope catalogue.
func (ro *Route) planStepUps() {
	cfg := &ro.cfg
	ro.acrValues = strings.Join(cfg.ACR, " ")
	ro.acrScopes, ro.renewScope = nil, ""
	for _, s := range cfg.Scopes {
		if ro.scopes.Grantable(s) {
			if ro.renewScope == "" {
				ro.renewScope = s
			}
			if ro.scopes.EarnsACR(s, cfg.ACR) {
				ro.acrScopes = append(ro.acrScopes, s)
			}
		}
	}
	others := make([]string, 0, len(ro.scopes))
	for s := range ro.scopes {
		if !slices.Contains(cfg.Scopes, s) && ro.scopes.Grantable(s) && ro.scopes.EarnsACR(s, cfg.ACR) {
			others = append(others, s)
		}
	}
	sort.Strings(others)
	ro.acrScopes = append(ro.acrScopes, others...)
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
