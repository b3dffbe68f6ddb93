package sessionapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// A user's passkeys, as Prelude's mobile SDKs 0.7 call them
// (prelude-passkeys.md §3): POST /me/passkeys/register/begin and /finish,
// GET /me/passkeys, PATCH and DELETE /me/passkeys/{credential_id}. Each
// takes the access token as Bearer. iOS sends nothing else; Android adds a
// session DPoP proof, which is neither needed nor refused here (the
// gateway's access tokens are bearer tokens), and gets a fresh DPoP-Nonce
// for its next proofs.

const passkeysPath = "/me/passkeys"

// passkeyCredentialPath returns the credential ID of
// /me/passkeys/{credential_id}.
func passkeyCredentialPath(endpoint string) (string, bool) {
	id, ok := strings.CutPrefix(endpoint, passkeysPath+"/")
	if !ok || id == "" || strings.Contains(id, "/") || id == "register" {
		return "", false
	}
	return id, true
}

// passkeyBearer verifies the access token of a /me/passkeys call, and
// answers a DPoP header with a nonce (Android's interceptor keeps it).
func (a *API) passkeyBearer(w http.ResponseWriter, r *http.Request) (stepup.Caller, *jwks.Claims, error) {
	if _, present := r.Header["Dpop"]; present {
		w.Header().Set("DPoP-Nonce", a.cfg.Nonces.Issue())
	}
	return a.bearerClaims(r)
}

// scopeHold is how the access token holds the enrolment scope: its scope
// claim, and the single-use grant (grt) that put it there, if any.
func scopeHold(claims *jwks.Claims) stepup.ScopeHold {
	hold := stepup.ScopeHold{InToken: claims.HasScope(stepup.PasskeyWriteScope)}
	if !hold.InToken {
		return hold
	}
	members, err := strictjson.ParseObject(claims.Raw)
	if err != nil {
		return stepup.ScopeHold{}
	}
	grt, ok := members["grt"]
	if !ok || grt.Kind != strictjson.Object {
		return hold
	}
	grants, err := strictjson.ParseObject(grt.Raw)
	if err != nil {
		return stepup.ScopeHold{}
	}
	if g, ok := grants[stepup.PasskeyWriteScope]; ok && g.Kind == strictjson.String {
		hold.GrantID = g.Text
	}
	return hold
}

func (a *API) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	caller, claims, err := a.passkeyBearer(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
		Nickname    string `json:"nickname"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	start, err := a.cfg.Engine.BeginPasskeyRegistration(r.Context(), caller, scopeHold(claims), body.Username, body.DisplayName, body.Nickname)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, map[string]any{"public_key": start.Options, "registration_token": start.Token})
}

func (a *API) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	caller, claims, err := a.passkeyBearer(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		RegistrationToken string          `json:"registration_token"`
		Attestation       json.RawMessage `json:"attestation"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	pk, already, err := a.cfg.Engine.FinishPasskeyRegistration(r.Context(), caller, scopeHold(claims), body.RegistrationToken, body.Attestation)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, map[string]any{"credential": passkeyJSON(pk), "already_registered": already})
}

func (a *API) listPasskeys(w http.ResponseWriter, r *http.Request) {
	caller, _, err := a.passkeyBearer(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.cfg.Engine.ListPasskeys(r.Context(), caller)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(list))
	for i := range list {
		out = append(out, passkeyJSON(&list[i]))
	}
	a.ok(w, map[string]any{"credentials": out})
}

// servePasskey answers PATCH (rename) and DELETE on one credential.
func (a *API) servePasskey(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPatch && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "PATCH, DELETE")
		a.fail(w, r, errMethod)
		return
	}
	if a.cfg.Engine == nil {
		a.fail(w, r, stepup.ErrNotConfigured)
		return
	}
	caller, _, err := a.passkeyBearer(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if r.Method == http.MethodDelete {
		err = a.cfg.Engine.DeletePasskey(r.Context(), caller, id)
	} else {
		var body struct {
			Nickname *string `json:"nickname"`
		}
		if err = readJSON(r, &body, true); err == nil && body.Nickname == nil {
			err = stepup.ErrBadRequest
		}
		if err == nil {
			err = a.cfg.Engine.RenamePasskey(r.Context(), caller, id, *body.Nickname)
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w)
}

// passkeyJSON is a credential as the SDKs read it (prelude-passkeys.md
// §3.3): times in Unix seconds, nickname null when unset.
func passkeyJSON(pk *stepup.Passkey) map[string]any {
	var nickname any
	if pk.Nickname != "" {
		nickname = pk.Nickname
	}
	transports := pk.Transports
	if transports == nil {
		transports = []string{}
	}
	return map[string]any{"credential_id": pk.ID, "nickname": nickname, "transports": transports,
		"backup_state": pk.BackupState, "created_at": pk.CreatedAt.Unix(), "last_used_at": pk.LastUsedAt.Unix()}
}

// --- passkey login ---

func (a *API) beginPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DispatchID string `json:"dispatch_id"`
	}
	if err := readJSON(r, &body, false); err != nil {
		a.fail(w, r, err)
		return
	}
	start, err := a.cfg.Engine.BeginPasskeyLogin(r.Context(), a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, map[string]any{"public_key": start.Options, "login_token": start.Token})
}

func (a *API) finishPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		LoginToken string          `json:"login_token"`
		Assertion  json.RawMessage `json:"assertion"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	ticket, err := a.cfg.Engine.FinishPasskeyLogin(r.Context(), body.LoginToken, body.Assertion, a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, map[string]string{"challenge_token": ticket})
}
