package caddystepup

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// response is a complete refusal: status, challenge header and JSON body.
type response struct {
	status          int
	wwwAuthenticate string
	body            []byte
	// outcome labels the decision in caddy_stepup_enforcement_decisions_total.
	outcome telemetry.Outcome
}

// enforcementResponses are a handler's refusals for one authentication
// scheme (design.md §4, §10.1). This table is the one place where the
// enforcement statuses are decided. The fixed ones are built once, so every
// invalid token gets byte-for-byte the same answer.
type enforcementResponses struct {
	noToken, badRequest, invalidToken, unavailable, tooLarge response
	// DPoP scheme only (RFC 9449 §7.1, §9).
	invalidProof, useNonce response
	// scheme is "Bearer" or "DPoP"; params ends every challenge of the
	// scheme (`, algs="…"` for DPoP).
	scheme, params    string
	stepUpRequestPath string
}

func newEnforcementResponses(scheme, params, realm, stepUpRequestPath string) enforcementResponses {
	er := enforcementResponses{scheme: scheme, params: params, stepUpRequestPath: stepUpRequestPath}
	er.noToken = newResponse(telemetry.NoToken, apierror.Unauthorized, er.challenge(`realm="`+realm+`"`),
		"unauthorized", "An access token is required.", nil)
	er.badRequest = newResponse(telemetry.BadRequest, apierror.BadRequest, er.challenge(`error="invalid_request"`),
		"bad_request", "The request must carry one access token, in the Authorization header only.", nil)
	er.invalidToken = newResponse(telemetry.InvalidToken, apierror.Unauthorized, er.challenge(`error="invalid_token"`),
		"unauthorized", "The access token is invalid or expired.", nil)
	er.unavailable = newResponse(telemetry.Unavailable, apierror.Unavailable, "", "internal", "Authorization is temporarily unavailable.", nil)
	er.tooLarge = newResponse(telemetry.BodyTooLarge, apierror.TooLarge, "", "body_too_large",
		"The request body is too large for the gateway to inspect.", nil)
	er.invalidProof = newResponse(telemetry.InvalidDPoPProof, apierror.Unauthorized, er.challenge(`error="invalid_dpop_proof"`),
		"invalid_dpop_proof", "The DPoP proof is invalid.", nil)
	er.useNonce = newResponse(telemetry.UseDPoPNonce, apierror.Unauthorized, er.challenge(`error="use_dpop_nonce"`),
		"use_dpop_nonce", "Use the DPoP nonce in the DPoP-Nonce header.", map[string]any{"error": "use_dpop_nonce"})
	return er
}

// challenge is one WWW-Authenticate challenge of the scheme.
func (er *enforcementResponses) challenge(params string) string {
	return er.scheme + " " + params + er.params
}

// newResponse is a refusal of kind k (its status and body type come from
// apierror, the one table of statuses), counted under outcome.
func newResponse(outcome telemetry.Outcome, k apierror.Kind, wwwAuthenticate, code, message string, extra map[string]any) response {
	return response{status: k.Status(), wwwAuthenticate: wwwAuthenticate, body: apierror.Body(k, code, message, extra), outcome: outcome}
}

// stepUp is RFC 9470's challenge for scopes that can be stepped up.
func (er *enforcementResponses) stepUp(scope string) *response {
	first, _, _ := strings.Cut(scope, " ")
	return er.userAuthentication(authnNeed{scopes: scope, stepUpScope: first})
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
func (er *enforcementResponses) userAuthentication(n authnNeed) *response {
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
		extra["step_up"] = map[string]string{"request": er.stepUpRequestPath, "scope": n.stepUpScope}
	}
	r := newResponse(outcome, apierror.Unauthorized, er.challenge(params), code, message, extra)
	return &r
}

// insufficientScope refuses scopes that cannot be stepped up (RFC 6750 §3.1).
func (er *enforcementResponses) insufficientScope(scope string) *response {
	r := newResponse(telemetry.Forbidden, apierror.Forbidden, er.challenge(`error="insufficient_scope", scope="`+scope+`"`),
		"forbidden", "The access token lacks the scope this operation requires.", map[string]any{"scope": scope})
	return &r
}

func (er *enforcementResponses) write(w http.ResponseWriter, resp *response) error {
	hdr := w.Header()
	if resp.wwwAuthenticate != "" {
		hdr["Www-Authenticate"] = []string{resp.wwwAuthenticate}
	}
	apierror.WriteJSON(w, resp.status, resp.body)
	return nil
}

// dpopChallengeParams is the `algs` parameter of DPoP challenges.
func dpopChallengeParams(algs []string) string {
	return `, algs="` + strings.Join(algs, " ") + `"`
}
