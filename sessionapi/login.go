package sessionapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Login, refresh, logout and the session list.

func (a *API) startLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Identifier struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"identifier"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	flowID, err := a.cfg.Engine.StartLogin(r.Context(), body.Identifier.Type, body.Identifier.Value, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The flow ID goes in the cookie and, for clients without cookies, in
	// X-Verification-Token (an answer left out of access logs).
	a.setCookie(w, loginCookie, flowID, 15*time.Minute)
	w.Header().Set(verificationHeader, flowID)
	a.noContent(w)
}

func (a *API) retryLogin(w http.ResponseWriter, r *http.Request) {
	if err := a.cfg.Engine.RetryLogin(r.Context(), flowContext(r, loginCookie), a.clientInfo(r)); err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w)
}

func (a *API) checkLogin(w http.ResponseWriter, r *http.Request) {
	proof, err := a.sessionProof(w, r, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		Code string `json:"code"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	tokens, err := a.cfg.Engine.CheckLogin(r.Context(), flowContext(r, loginCookie), body.Code, proof, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.clearCookie(w, loginCookie)
	a.setCookie(w, deviceCookie, tokens.Device, deviceCookieLifetime)
	a.sendTokens(w, tokens)
}

// --- refresh and logout ---

func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	proof, err := a.sessionProof(w, r, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		StepUpToken string `json:"step_up_token"`
	}
	if err := readJSON(r, &body, false); err != nil {
		a.fail(w, r, err)
		return
	}
	tokens, err := a.cfg.Engine.Refresh(r.Context(), stepup.RefreshRequest{
		RefreshToken: refreshToken(r), Proof: proof, StepUpToken: body.StepUpToken, Client: a.clientInfo(r),
	})
	if err != nil {
		if errors.Is(err, stepup.ErrUnauthorized) {
			a.clearCookie(w, refreshCookie)
		}
		a.fail(w, r, err)
		return
	}
	a.sendTokens(w, tokens)
}

func (a *API) revoke(w http.ResponseWriter, r *http.Request) {
	// Ending a session takes its key's proof (Engine.Revoke), asked for
	// whenever a refresh token comes, before the token is looked at: the
	// answer says nothing about the token. The SDK sends a proof whenever it
	// holds a key; without one and without a token, there is nothing to end.
	tok := refreshToken(r)
	proof, err := a.sessionProof(w, r, tok != "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if tok != "" {
		if err := a.cfg.Engine.Revoke(r.Context(), tok, proof); err != nil && !errors.Is(err, stepup.ErrUnauthorized) {
			a.fail(w, r, err)
			return
		}
	}
	// Unknown or already revoked tokens end the same way: logged out.
	a.clearCookie(w, refreshCookie)
	a.noContent(w)
}

// --- session list ---

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	caller, err := a.bearer(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit, offset := 10, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			a.fail(w, r, stepup.ErrInvalidPagination)
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil {
			a.fail(w, r, stepup.ErrInvalidOffset)
			return
		}
	}
	sessions, total, err := a.cfg.Engine.ListSessions(r.Context(), caller.UserID, limit, offset)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type sessionJSON struct {
		ID          string `json:"id"`
		DeviceModel string `json:"device_model"`
		DeviceType  string `json:"device_type"`
		OSVersion   string `json:"os_version"`
		CountryCode string `json:"country_code"`
		CreatedAt   string `json:"created_at"`
		LastSeenAt  string `json:"last_seen_at"`
		ExpiresAt   string `json:"expires_at"`
		Current     bool   `json:"current"`
	}
	list := make([]sessionJSON, 0, len(sessions))
	for _, ses := range sessions {
		list = append(list, sessionJSON{
			ID: ses.ID, DeviceModel: "", DeviceType: deviceType(ses.UserAgent), OSVersion: "", CountryCode: "",
			CreatedAt: ses.CreatedAt.UTC().Format(time.RFC3339), LastSeenAt: ses.LastSeenAt.UTC().Format(time.RFC3339),
			ExpiresAt: ses.ExpiresAt.UTC().Format(time.RFC3339), Current: ses.ID == caller.SessionID,
		})
	}
	a.ok(w, map[string]any{"sessions": list, "total": total, "limit": limit, "offset": offset})
}

func (a *API) revokeSessions(w http.ResponseWriter, r *http.Request) {
	caller, err := a.bearer(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if err := a.cfg.Engine.RevokeSessions(r.Context(), caller.UserID, caller.SessionID, q.Get("target"), q.Get("session_id")); err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w)
}
