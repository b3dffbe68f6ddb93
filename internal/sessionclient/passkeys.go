package sessionclient

import (
	"encoding/json"
	"net/http"
)

// Passkey calls as Prelude's mobile SDKs 0.7 make them
// (prelude-passkeys.md): Android sends a session DPoP proof with the
// Bearer on /me/passkeys and none on stepup/continue (only the
// challenge-bound proof); iOS sends the Bearer alone on /me/passkeys and
// Bearer plus the challenge-bound proof on stepup/continue. Platform
// picks which.

// Platforms.
const (
	Android = "android"
	IOS     = "ios"
)

// meRequest is a /me/passkeys call as platform sends it.
func (c *Client) meRequest(platform, method, path string, body any) Request {
	return Request{Method: method, Path: api + path, Body: body, Bearer: true, SessionDPoP: platform == Android}
}

// BeginPasskeyRegistration calls POST /me/passkeys/register/begin.
func (c *Client) BeginPasskeyRegistration(platform, username, displayName, nickname string) (*Response, error) {
	body := map[string]string{"username": username}
	if displayName != "" {
		body["display_name"] = displayName
	}
	if nickname != "" {
		body["nickname"] = nickname
	}
	return c.Do(c.meRequest(platform, http.MethodPost, "/me/passkeys/register/begin", body))
}

// FinishPasskeyRegistration calls POST /me/passkeys/register/finish.
func (c *Client) FinishPasskeyRegistration(platform, registrationToken string, attestation []byte) (*Response, error) {
	return c.Do(c.meRequest(platform, http.MethodPost, "/me/passkeys/register/finish",
		map[string]any{"registration_token": registrationToken, "attestation": json.RawMessage(attestation)}))
}

// ListPasskeys calls GET /me/passkeys.
func (c *Client) ListPasskeys(platform string) (*Response, error) {
	return c.Do(c.meRequest(platform, http.MethodGet, "/me/passkeys", nil))
}

// RenamePasskey calls PATCH /me/passkeys/{id}.
func (c *Client) RenamePasskey(platform, id, nickname string) (*Response, error) {
	return c.Do(c.meRequest(platform, http.MethodPatch, "/me/passkeys/"+id, map[string]string{"nickname": nickname}))
}

// DeletePasskey calls DELETE /me/passkeys/{id}.
func (c *Client) DeletePasskey(platform, id string) (*Response, error) {
	return c.Do(c.meRequest(platform, http.MethodDelete, "/me/passkeys/"+id, nil))
}

// ContinueWithPasskey calls POST /stepup/continue with a passkey
// assertion and the challenge-bound proof; iOS adds the Bearer, Android
// does not.
func (c *Client) ContinueWithPasskey(platform, challengeToken string, assertion []byte) (*Response, error) {
	jti, _ := Claims(challengeToken)["jti"].(string)
	return c.Do(Request{Method: http.MethodPost, Path: api + "/stepup/continue", ChallengeJTI: jti, Bearer: platform == IOS,
		Body: map[string]any{"challenge_token": challengeToken, "passkey_assertion": json.RawMessage(assertion)}})
}

// BeginPasskeyLogin calls POST /login/passkey/begin (no credentials).
func (c *Client) BeginPasskeyLogin() (*Response, error) {
	return c.Do(Request{Method: http.MethodPost, Path: api + "/login/passkey/begin", Body: map[string]any{}})
}

// FinishPasskeyLogin calls POST /login/passkey/finish (no credentials).
func (c *Client) FinishPasskeyLogin(loginToken string, assertion []byte) (*Response, error) {
	return c.Do(Request{Method: http.MethodPost, Path: api + "/login/passkey/finish",
		Body: map[string]any{"login_token": loginToken, "assertion": json.RawMessage(assertion)}})
}

// RawJSON returns a JSON member of the answer as it was written (the
// WebAuthn options, for the authenticator).
func (r *Response) RawJSON(name string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Body, &m) != nil {
		return nil
	}
	return m[name]
}
