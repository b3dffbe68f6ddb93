package sessionapi

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Password login, sign-up, /login/finalize and the password policy
// (prelude-protocol.md §9.4, §9.8).

// credentialsBody is the body of /login/email/password and
// /login/email/sign-up.
type credentialsBody struct {
	Identifier string `json:"identifier"`
	Password   string `json:"password"`
}

func (a *API) passwordLogin(w http.ResponseWriter, r *http.Request) {
	var body credentialsBody
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	ticket, err := a.cfg.Engine.PasswordLogin(r.Context(), body.Identifier, body.Password, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, map[string]string{"challenge_token": ticket})
}

func (a *API) signUp(w http.ResponseWriter, r *http.Request) {
	var body credentialsBody
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	ticket, err := a.cfg.Engine.SignUp(r.Context(), body.Identifier, body.Password, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, map[string]string{"challenge_token": ticket})
}

// finalizeLogin turns a ticket into a session, like /login/otp/check. A
// sign-up's ticket instead sends the code that proves the address and
// answers {"status":"otp_required"} with the login cookie: the SDK caches
// no session from it, and the app's checkOTP(code) opens one.
func (a *API) finalizeLogin(w http.ResponseWriter, r *http.Request) {
	if !a.cfg.Engine.FinalizeOffered() {
		a.fail(w, r, stepup.ErrNotConfigured)
		return
	}
	proof, err := a.sessionProof(w, r, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		ChallengeToken string `json:"challenge_token"`
		CodeVerifier   string `json:"code_verifier"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	done, err := a.cfg.Engine.FinalizeLogin(r.Context(), body.ChallengeToken, body.CodeVerifier, proof, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if done.Tokens == nil {
		a.setCookie(w, loginCookie, done.FlowID, 15*time.Minute)
		w.Header().Set(verificationHeader, done.FlowID)
		a.ok(w, map[string]string{"status": "otp_required"})
		return
	}
	if done.Tokens.Device != "" {
		a.setCookie(w, deviceCookie, done.Tokens.Device, deviceCookieLifetime)
	}
	// The session this client held before, if it says so with that
	// session's refresh token and key, ends: a re-login replaces it.
	if err := a.cfg.Engine.EndPreviousSession(r.Context(), refreshToken(r), proof, done.Tokens.SessionID); err != nil {
		a.log.Warn("a re-login could not end the previous session; it ends with its refresh token's lifetime", zap.Error(err))
	}
	a.sendTokens(w, done.Tokens)
}

func (a *API) passwordCompliancy(w http.ResponseWriter, r *http.Request) {
	policy, err := a.cfg.Engine.PasswordPolicy()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, policy)
}
