package caddystepup

import (
	"net/http"
	"strings"
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
	er.noToken = response{http.StatusUnauthorized, er.challenge(`realm="` + realm + `"`),
		errorBody("unauthorized", "An access token is required.", "unauthorized", nil)}
	er.badRequest = response{http.StatusBadRequest, er.challenge(`error="invalid_request"`),
		errorBody("bad_request", "The request must carry one access token, in the Authorization header only.", "bad_request", nil)}
	er.invalidToken = response{http.StatusUnauthorized, er.challenge(`error="invalid_token"`),
		errorBody("unauthorized", "The access token is invalid or expired.", "unauthorized", nil)}
	er.unavailable = response{http.StatusServiceUnavailable, "",
		errorBody("internal", "Authorization is temporarily unavailable.", "internal", nil)}
	er.tooLarge = response{http.StatusRequestEntityTooLarge, "",
		errorBody("body_too_large", "The request body is too large for the gateway to inspect.", "bad_request", nil)}
	er.invalidProof = response{http.StatusUnauthorized, er.challenge(`error="invalid_dpop_proof"`),
		errorBody("invalid_dpop_proof", "The DPoP proof is invalid.", "unauthorized", nil)}
	er.useNonce = response{http.StatusUnauthorized, er.challenge(`error="use_dpop_nonce"`),
		errorBody("use_dpop_nonce", "Use the DPoP nonce in the DPoP-Nonce header.", "unauthorized",
			map[string]any{"error": "use_dpop_nonce"})}
	return er
}

// challenge is one WWW-Authenticate challenge of the scheme.
func (er *enforcementResponses) challenge(params string) string {
	return er.scheme + " " + params + er.params
}

// stepUp is RFC 9470's challenge for scopes that can be stepped up.
func (er *enforcementResponses) stepUp(scope string) *response {
	return &response{http.StatusUnauthorized,
		er.challenge(`error="insufficient_user_authentication", scope="` + scope + `"`),
		errorBody("step_up_required", "This operation needs a step-up authentication.", "unauthorized", map[string]any{
			"scope":   scope,
			"step_up": map[string]string{"request": er.stepUpRequestPath},
		})}
}

// insufficientScope refuses scopes that cannot be stepped up (RFC 6750 §3.1).
func (er *enforcementResponses) insufficientScope(scope string) *response {
	return &response{http.StatusForbidden,
		er.challenge(`error="insufficient_scope", scope="` + scope + `"`),
		errorBody("forbidden", "The access token lacks the scope this operation requires.", "forbidden", map[string]any{
			"scope": scope,
		})}
}

func (er *enforcementResponses) write(w http.ResponseWriter, resp *response) error {
	hdr := w.Header()
	if resp.wwwAuthenticate != "" {
		hdr["Www-Authenticate"] = []string{resp.wwwAuthenticate}
	}
	writeJSON(w, resp.status, resp.body)
	return nil
}

// dpopChallengeParams is the `algs` parameter of DPoP challenges.
func dpopChallengeParams(algs []string) string {
	return `, algs="` + strings.Join(algs, " ") + `"`
}
