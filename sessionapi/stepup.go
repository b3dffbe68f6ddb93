package sessionapi

import (
	"encoding/json"
	"net/http"
	"time"
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
	out := map[string]any{"status": res.Status}
	if res.ChallengeToken != "" {
		out["challenge_token"] = res.ChallengeToken
	}
	a.ok(w, out)
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
	next, err := a.cfg.Engine.CheckStepOTP(r.Context(), body.ChallengeToken, body.Code, proof, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.clearCookie(w, otpCookie)
	a.ok(w, map[string]string{"challenge_token": next})
}

func (a *API) continueStepUp(w http.ResponseWriter, r *http.Request) {
	caller, err := a.bearer(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	proof, err := a.challengeProof(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		ChallengeToken    string `json:"challenge_token"`
		VerificationToken string `json:"verification_token"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	next, err := a.cfg.Engine.ContinueStepUp(r.Context(), caller, body.ChallengeToken, body.VerificationToken, proof)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, map[string]string{"challenge_token": next})
}
