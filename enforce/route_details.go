// A route's authorization details (RFC 9396): the request's JSON body read
// strictly, and the token's details that must cover it.

package enforce

import (
	"errors"
	"net/http"

	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// checkDetails is nil when the token's authorization_details cover the
// request. A body no token could be judged by (not one strict JSON object
// with the fields the route reads, under one application/json) is 400; a
// token whose details are malformed is invalid_token; details that do not
// cover the body get the insufficient_authorization challenge naming the
// details that would. The body is read whole and handed on as the exact
// bytes checked.
func (ro *Route) checkDetails(r *http.Request, claims *jwks.Claims, rs *refusals) *Refusal {
	if err := ro.details.CheckRequest(r.Header["Content-Type"], r.Header["Content-Encoding"], r.URL.RawQuery); err != nil {
		ro.debug("authorization details: request refused", err)
		return &rs.badRequest
	}
	raw, err := ro.readBody(r)
	if err != nil {
		ro.debug("authorization details: body refused", err)
		if errors.Is(err, ErrBodyTooLarge) {
			return &rs.tooLarge
		}
		return &rs.badRequest
	}
	fields, err := ro.details.ReadBody(raw)
	if err != nil {
		ro.debug("authorization details: body refused", err)
		return &rs.badRequest
	}
	entries, err := ParseDetails(claims.Raw)
	if err != nil {
		ro.debug("access token refused", err)
		return &rs.invalidToken
	}
	if ro.details.Covered(entries, fields, ro.location(r)) {
		return nil
	}
	return rs.insufficientAuthorization(ro.details.Remediation(fields, ro.cfg.Resource))
}
