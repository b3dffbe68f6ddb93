package sessionapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// The step-up endpoints.

func (a *API) requestStepUp(w http.ResponseWriter, r *http.Request) {
	caller, err := a.bearer(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		Scope    string          `json:"scope"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	metadata, err := parseMetadata(body.Metadata)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.cfg.Engine.RequestStepUp(r.Context(), caller, body.Scope, metadata, a.signals(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, stepUpAnswer{Status: res.Status, ChallengeToken: res.ChallengeToken, PasskeyOptions: res.PasskeyOptions})
}

// stepAnswer is the answer of a call that moved a challenge on: its new
// token, and the request options when the new step is verify_passkey
// (prelude-passkeys.md §5.3: the SDKs read them from this answer only).
func (a *API) stepAnswer(w http.ResponseWriter, next *stepup.StepAnswer) {
	a.ok(w, stepUpAnswer{ChallengeToken: next.ChallengeToken, PasskeyOptions: next.PasskeyOptions})
}

func (a *API) sendStepOTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ChallengeToken string `json:"challenge_token"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.cfg.Engine.SendStepOTP(r.Context(), body.ChallengeToken, false, a.clientInfo(r)); err != nil {
		a.fail(w, r, err)
		return
	}
	// /otp/retry has no body: the cookie (or header) says which challenge.
	a.setCookie(w, otpCookie, body.ChallengeToken, 15*time.Minute)
	a.noContent(w)
}

func (a *API) retryStepOTP(w http.ResponseWriter, r *http.Request) {
	if _, err := a.cfg.Engine.SendStepOTP(r.Context(), flowContext(r, otpCookie), true, a.clientInfo(r)); err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w)
}

func (a *API) checkStepOTP(w http.ResponseWriter, r *http.Request) {
	proof, err := a.challengeProof(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		Code           string `json:"code"`
		ChallengeToken string `json:"challenge_token"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	next, err := a.cfg.Engine.AdvanceByCode(r.Context(), body.ChallengeToken, body.Code, proof, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.clearCookie(w, otpCookie)
	a.stepAnswer(w, next)
}

// continueStepUp completes the current step: a custom step with the
// verification_token the customer's backend signed (Bearer and the
// challenge-bound proof, as the web SDK sends them), or a verify_passkey
// step with a passkey_assertion. For the latter the access token may be
// missing, as Android's SDK 0.7 sends it (prelude-passkeys.md §11.1): the
// challenge-bound proof of the session's key then stands for it. A token
// that is there must be valid.
func (a *API) continueStepUp(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ChallengeToken    string          `json:"challenge_token"`
		VerificationToken string          `json:"verification_token"`
		PasskeyAssertion  json.RawMessage `json:"passkey_assertion"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	passkey := len(body.PasskeyAssertion) > 0 && string(body.PasskeyAssertion) != "null"
	if passkey && body.VerificationToken != "" {
		a.fail(w, r, stepup.ErrBadRequest) // one proof per call
		return
	}
	var caller *stepup.Caller
	var err error
	if passkey {
		caller, err = a.optionalBearer(r)
	} else {
		var c stepup.Caller
		c, err = a.bearer(r)
		caller = &c
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	proof, err := a.challengeProof(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var next *stepup.StepAnswer
	if passkey {
		next, err = a.cfg.Engine.AdvanceByPasskey(r.Context(), caller, body.ChallengeToken, body.PasskeyAssertion, proof, a.clientInfo(r))
	} else {
		next, err = a.cfg.Engine.AdvanceByVerification(r.Context(), *caller, body.ChallengeToken, body.VerificationToken, proof)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.stepAnswer(w, next)
}
