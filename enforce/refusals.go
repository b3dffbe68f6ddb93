// The route's refusals: the one table where the enforcement statuses,
// challenges and bodies are decided (design.md §4, §10.1).

package enforce

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// Refusal is a complete answer refusing a request: status, challenge
// header and JSON body, and the outcome it is counted under. The fixed ones
// are built once per route, so every invalid token gets byte-for-byte the
// same answer; they are shared and must not be changed.
type Refusal struct {
	Status          int
	WWWAuthenticate string // "" for none
	Body            []byte
	// Outcome labels the decision in caddy_stepup_enforcement_decisions_total.
	Outcome telemetry.Outcome
}

// Write sends the refusal: its challenge, ending with the
// resource_metadata parameter (RFC 9728 §5.1) when resourceMetadata is
// set, then the JSON body with Cache-Control: no-store.
func (rf *Refusal) Write(w http.ResponseWriter, resourceMetadata string) {
	if rf.WWWAuthenticate != "" {
		challenge := rf.WWWAuthenticate
		if resourceMetadata != "" {
			challenge += `, resource_metadata="` + resourceMetadata + `"`
		}
		w.Header()["Www-Authenticate"] = []string{challenge}
	}
	apierror.WriteJSON(w, rf.Status, rf.Body)
}

// refusals are a route's refusals for one authentication scheme.
type refusals struct {
	noToken, badRequest, invalidToken, revoked, unavailable, tooLarge Refusal
	// MCP routes only: a body that is not one JSON-RPC message every
	// parser reads alike.
	badMessage Refusal
	// DPoP scheme only (RFC 9449 §7.1, §9).
	invalidProof, useNonce Refusal
	// scheme is "Bearer" or "DPoP"; params ends every challenge of the
	// scheme (`, algs="…"` for DPoP).
	scheme, params    string
	stepUpRequestPath string
}

func newRefusals(scheme, params, realm, stepUpRequestPath string) refusals {
	rs := refusals{scheme: scheme, params: params, stepUpRequestPath: stepUpRequestPath}
	rs.noToken = rs.noTokenRefusal(realm, "")
	rs.badRequest = newRefusal(telemetry.BadRequest, apierror.BadRequest, rs.challenge(`error="invalid_request"`),
		"bad_request", "The request must carry one access token, in the Authorization header only.", nil)
	rs.invalidToken = rs.invalidTokenRefusal("")
	rs.revoked = rs.revokedRefusal("")
	rs.badMessage = newRefusal(telemetry.BadMessage, apierror.BadRequest, "", "bad_request",
		"The body must be one JSON-RPC message (not a batch), labelled application/json, that every parser reads alike, with method and tool names in printable ASCII.", nil)
	rs.unavailable = newRefusal(telemetry.Unavailable, apierror.Unavailable, "", "internal", "Authorization is temporarily unavailable.", nil)
	rs.tooLarge = newRefusal(telemetry.BodyTooLarge, apierror.TooLarge, "", "body_too_large",
		"The request body is too large for the gateway to inspect.", nil)
	rs.invalidProof = newRefusal(telemetry.InvalidDPoPProof, apierror.Unauthorized, rs.challenge(`error="invalid_dpop_proof"`),
		"invalid_dpop_proof", "The DPoP proof is invalid.", nil)
	rs.useNonce = newRefusal(telemetry.UseDPoPNonce, apierror.Unauthorized, rs.challenge(`error="use_dpop_nonce"`),
		"use_dpop_nonce", "Use the DPoP nonce in the DPoP-Nonce header.", map[string]any{"error": "use_dpop_nonce"})
	return rs
}

// noTokenRefusal is the 401 to a request without a token; more ends the
// challenge's parameters (`, scope="…"`).
func (rs *refusals) noTokenRefusal(realm, more string) Refusal {
	return newRefusal(telemetry.NoToken, apierror.Unauthorized, rs.challenge(`realm="`+realm+`"`+more),
		"unauthorized", "An access token is required.", nil)
}

// invalidTokenRefusal is the 401 to every invalid token, the same for each
// cause; more ends the challenge's parameters.
func (rs *refusals) invalidTokenRefusal(more string) Refusal {
	return newRefusal(telemetry.InvalidToken, apierror.Unauthorized, rs.challenge(`error="invalid_token"`+more),
		"unauthorized", "The access token is invalid or expired.", nil)
}

// revokedRefusal is the refusal of a token the revocation list names:
// invalid_token (RFC 6750 §3.1), saying why.
func (rs *refusals) revokedRefusal(more string) Refusal {
	return newRefusal(telemetry.Revoked, apierror.Unauthorized,
		rs.challenge(`error="invalid_token", error_description="The access token has been revoked"`+more),
		"unauthorized", "The access token has been revoked.", nil)
}

// addMCP gives an MCP route's 401s the MCP authorization spec's words:
// they name the route's scopes (the spec's SHOULD, and where its clients
// look first for the scopes to request).
func (rs *refusals) addMCP(realm string, routeScopes []string) {
	if len(routeScopes) == 0 {
		return
	}
	scope := `, scope="` + strings.Join(routeScopes, " ") + `"`
	rs.noToken = rs.noTokenRefusal(realm, scope)
	rs.invalidToken = rs.invalidTokenRefusal(scope)
	rs.revoked = rs.revokedRefusal(scope)
}

// dpopChallengeParams is the `algs` parameter of DPoP challenges.
func dpopChallengeParams(algs []string) string {
	return `, algs="` + strings.Join(algs, " ") + `"`
}

// challenge is one WWW-Authenticate challenge of the scheme.
func (rs *refusals) challenge(params string) string {
	return rs.scheme + " " + params + rs.params
}

// newRefusal is a refusal of kind k (its status and body type come from
// apierror, the one table of statuses), counted under outcome.
func newRefusal(outcome telemetry.Outcome, k apierror.Kind, wwwAuthenticate, code, message string, extra map[string]any) Refusal {
	return Refusal{Status: k.Status(), WWWAuthenticate: wwwAuthenticate, Body: apierror.Body(k, code, message, extra), Outcome: outcome}
}

// stepUp is RFC 9470's challenge for scopes that can be stepped up.
func (rs *refusals) stepUp(scope string) *Refusal {
	first, _, _ := strings.Cut(scope, " ")
	return rs.userAuthentication(authnNeed{scopes: scope, stepUpScope: first})
}

// authnNeed is what a valid token lacks for a route, in RFC 9470's terms.
type authnNeed struct {
	scopes    string // missing scopes that can be stepped up, space-delimited
	acrValues string // the route's acr values, when the token's acr is none of them
	maxAge    int64  // the route's max_age in seconds, when auth_time is older or absent
	// stepUpScope is the scope whose step-up (the SDK's requestStepUp)
	// meets the need; "" when none does and the client must go back to
	// its identity provider.
	stepUpScope string
}

// userAuthentication is RFC 9470's insufficient_user_authentication
// challenge: the header names what is missing (scope, acr_values,
// max_age), and the body says the same and which scope to request.
func (rs *refusals) userAuthentication(n authnNeed) *Refusal {
	params := `error="insufficient_user_authentication"`
	extra := map[string]any{}
	message := "This operation needs a step-up authentication."
	switch {
	case n.acrValues != "":
		params += `, error_description="A different authentication level is required"`
		message = "This operation needs a different authentication level."
	case n.maxAge > 0:
		params += `, error_description="A more recent authentication is required"`
		message = "This operation needs a more recent authentication."
	}
	if n.scopes != "" {
		params += `, scope="` + n.scopes + `"`
		extra["scope"] = n.scopes
	}
	if n.acrValues != "" {
		params += `, acr_values="` + n.acrValues + `"`
		extra["acr_values"] = n.acrValues
	}
	if n.maxAge > 0 {
		params += ", max_age=" + strconv.FormatInt(n.maxAge, 10)
		extra["max_age"] = n.maxAge
	}
	code, outcome := "insufficient_user_authentication", telemetry.InsufficientUserAuthentication
	if n.stepUpScope != "" {
		code, outcome = "step_up_required", telemetry.StepUpRequired
		extra["step_up"] = map[string]string{"request": rs.stepUpRequestPath, "scope": n.stepUpScope}
	}
	r := newRefusal(outcome, apierror.Unauthorized, rs.challenge(params), code, message, extra)
	return &r
}

// insufficientScope refuses scopes that cannot be stepped up (RFC 6750 §3.1).
func (rs *refusals) insufficientScope(scope string) *Refusal {
	r := newRefusal(telemetry.Forbidden, apierror.Forbidden, rs.challenge(`error="insufficient_scope", scope="`+scope+`"`),
		"forbidden", "The access token lacks the scope this operation requires.", map[string]any{"scope": scope})
	return &r
}

// insufficientAuthorization refuses a token whose authorization_details
// (RFC 9396) do not cover the request, as draft-ietf-oauth-rar-metadata-
// remediation-00 §4 says: 401, error="insufficient_authorization" and the
// details that would, base64url-encoded JSON in authorization_remediation
// (no authorization_reference: the details are this request's); the body
// names them too.
func (rs *refusals) insufficientAuthorization(details []map[string]any) *Refusal {
	remediation, _ := json.Marshal(map[string]any{"authorization_details": details})
	params := `error="insufficient_authorization", error_description="Additional authorization is required", authorization_remediation="` +
		base64.RawURLEncoding.EncodeToString(remediation) + `"`
	r := newRefusal(telemetry.InsufficientAuthorization, apierror.Unauthorized, rs.challenge(params), "insufficient_authorization",
		"The access token's authorization details do not cover this request.", map[string]any{"authorization_details": details})
	return &r
}
