// Revoked tokens at a route: a verified token that the revocation list
// names is refused before anything else is spent on it (a DPoP replay
// marker, a grant).

package enforce

import (
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/revocation"
)

// checkRevoked refuses a token the revocation list names (401
// invalid_token, "revoked"), and every token while the list is out of
// date (503): an instance that cannot read the list cannot know what was
// revoked. The list is this instance's copy: no store round trip.
func (ro *Route) checkRevoked(list RevocationChecker, claims *jwks.Claims, rs *refusals) (*revocation.Entry, *Refusal) {
	if list == nil {
		return nil, nil
	}
	facts := revocation.TokenFacts{Issuer: claims.Issuer, Subject: claims.Subject, SessionID: claims.SessionID, ID: claims.ID,
		IssuedAt: claims.IssuedAt}
	e, err := list.Check(facts)
	switch {
	case err != nil:
		ro.debug("revocation list out of date", err)
		return nil, &rs.unavailable
	case e != nil:
		return e, &rs.revoked
	}
	return nil, nil
}
