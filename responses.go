package caddystepup

import (
	"net/http"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/apierror"
)

// response is a complete refusal: status, challenge header and JSON body.
type response struct {
	status          int
	wwwAuthenticate string
	body            []byte
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
	er.noToken = newResponse(apierror.Unauthorized, er.challenge(`realm="`+realm+`"`),
		"unauthorized", "An access token is required.", nil)
	er.badRequest = newResponse(apierror.BadRequest, er.challenge(`error="invalid_request"`),
		"bad_request", "The request must carry one access token, in the Authorization header only.", nil)
	er.invalidToken = newResponse(apierror.Unauthorized, er.challenge(`error="invalid_token"`),
		"unauthorized", "The access token is invalid or expired.", nil)
	er.unavailable = newResponse(apierror.Unavailable, "", "internal", "Authorization is temporarily unavailable.", nil)
	er.tooLarge = newResponse(apierror.TooLarge, "", "body_too_large", "The request body is too large for the gateway to inspect.", nil)
	er.invalidProof = newResponse(apierror.Unauthorized, er.challenge(`error="invalid_dpop_proof"`),
		"invalid_dpop_proof", "The DPoP proof is invalid.", nil)
	er.useNonce = newResponse(apierror.Unauthorized, er.challenge(`error="use_dpop_nonce"`),
		"use_dpop_nonce", "Use the DPoP nonce in the DPoP-Nonce header.", map[string]any{"error": "use_dpop_nonce"})
	return er
}

// challenge is one WWW-Authenticate challenge of the scheme.
func (er *enforcementResponses) challenge(params string) string {
	return er.scheme + " " + params + er.params
}

// newResponse is a refusal of kind k (its status and body type come from
// apierror, the one table of statuses).
func newResponse(k apierror.Kind, wwwAuthenticate, code, message string, extra map[string]any) response {
	return response{k.Status(), wwwAuthenticate, apierror.Body(k, code, message, extra)}
}

// stepUp is RFC 9470's challenge for scopes that can be stepped up.
func (er *enforcementResponses) stepUp(scope string) *response {
	r := newResponse(apierror.Unauthorized, er.challenge(`error="insufficient_user_authentication", scope="`+scope+`"`),
		"step_up_required", "This operation needs a step-up authentication.", map[string]any{
			"scope":   scope,
			"step_up": map[string]string{"request": er.stepUpRequestPath},
		})
	return &r
}

// insufficientScope refuses scopes that cannot be stepped up (RFC 6750 §3.1).
func (er *enforcementResponses) insufficientScope(scope string) *response {
	r := newResponse(apierror.Forbidden, er.challenge(`error="insufficient_scope", scope="`+scope+`"`),
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
