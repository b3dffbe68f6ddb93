package sessionapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

// The credentials of a request: access token, DPoP proofs, refresh token
// and OTP contexts.

// bearer verifies the access token of a session API request: only tokens
// this gateway minted are accepted here.
func (a *API) bearer(r *http.Request) (stepup.Caller, error) {
	caller, _, err := a.bearerClaims(r)
	return caller, err
}

// bearerClaims is bearer with the token's claims.
func (a *API) bearerClaims(r *http.Request) (stepup.Caller, *jwks.Claims, error) {
	cred, problem := enforce.ParseAuthorization(r.Header["Authorization"])
	if problem != enforce.OK || cred.Scheme != enforce.Bearer || enforce.HasAccessToken(r.URL.RawQuery) {
		return stepup.Caller{}, nil, stepup.ErrUnauthorized
	}
	claims, err := a.cfg.Tokens.Verify(r.Context(), cred.Token)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			return stepup.Caller{}, nil, stepup.ErrUnavailable
		}
		return stepup.Caller{}, nil, stepup.ErrUnauthorized
	}
	if claims.Issuer != a.cfg.Issuer {
		return stepup.Caller{}, nil, stepup.ErrUnauthorized
	}
	return stepup.Caller{UserID: claims.Subject, SessionID: claims.SessionID}, claims, nil
}

// optionalBearer is bearer for a call that may come without an access
// token (Android's passkey step): nil when the request has none (no
// Authorization header, or a scheme with nothing after it); a token that
// is there must be valid.
func (a *API) optionalBearer(r *http.Request) (*stepup.Caller, error) {
	if _, problem := enforce.ParseAuthorization(r.Header["Authorization"]); problem == enforce.Missing {
		return nil, nil
	}
	caller, err := a.bearer(r)
	if err != nil {
		return nil, err
	}
	return &caller, nil
}

// sessionProof verifies the session DPoP proof of r, demanding a current
// nonce. Every response to a request with a proof carries a fresh nonce.
func (a *API) sessionProof(w http.ResponseWriter, r *http.Request, required bool) (*dpop.Proof, error) {
	header, err := dpop.FromHeader(r.Header)
	if errors.Is(err, dpop.ErrMissingProof) {
		if required {
			return nil, stepup.ErrMissingDPoP
		}
		return nil, nil
	}
	w.Header().Set("DPoP-Nonce", a.cfg.Nonces.Issue())
	if err != nil {
		return nil, stepup.ErrInvalidDPoP
	}
	proof, err := a.proofs.VerifyWithNonce(header, r.Method, a.externalURL(r), a.cfg.Nonces)
	switch {
	case errors.Is(err, dpop.ErrNonceRequired):
		return nil, stepup.ErrUseDPoPNonce
	case err != nil:
		a.debug("DPoP proof refused", err)
		return nil, stepup.ErrInvalidDPoP
	}
	return proof, nil
}

// challengeProof verifies a challenge-bound proof: no nonce, and its jti
// is the challenge token's (checked by the engine).
func (a *API) challengeProof(r *http.Request) (*dpop.Proof, error) {
	header, err := dpop.FromHeader(r.Header)
	if errors.Is(err, dpop.ErrMissingProof) {
		return nil, nil // the engine decides whether the challenge needs one
	}
	if err != nil {
		return nil, stepup.ErrInvalidDPoP
	}
	proof, err := a.proofs.Verify(header, r.Method, a.externalURL(r))
	if err != nil {
		a.debug("challenge DPoP proof refused", err)
		return nil, stepup.ErrInvalidDPoP
	}
	return proof, nil
}

// externalURL is the URL the client called, as DPoP's htu must name it:
// the configured external origin and the request's original path.
func (a *API) externalURL(r *http.Request) string {
	return a.cfg.ExternalOrigin + a.cfg.OriginalPath(r)
}

// refreshToken reads the refresh token from the HttpOnly cookie, or else
// the X-Refresh-Token header (a client without cookies: a mobile SDK, a
// browser that blocks the gateway's cookies). Both carry the same token
// after every answer; where they differ, the cookie is the browser's
// current one.
func refreshToken(r *http.Request) string {
	if c, err := r.Cookie(refreshCookie); err == nil && c.Value != "" {
		return c.Value
	}
	return r.Header.Get(refreshHeader)
}

// CarriesSecret reports whether r carries a secret where Caddy's access
// log writes it in clear: a refresh token or a login flow ID in a request
// header (X-Refresh-Token, X-Verification-Token), or a provider's code and
// state in the URL of an OAuth callback, whose answer's Location also
// carries the login ticket. The gateway leaves such requests out of the
// access log. Cookie and Authorization headers are redacted by Caddy
// itself.
func CarriesSecret(r *http.Request) bool {
	if r.Header.Get(refreshHeader) != "" || r.Header.Get(verificationHeader) != "" {
		return true
	}
	// Any provider name: a provider's code is a secret even when it comes
	// back to a name this gateway does not serve.
	endpoint, ok := endpointOf(r.URL.Path)
	return ok && strings.HasPrefix(endpoint, oauthPrefix) && strings.HasSuffix(endpoint, "/callback")
}

// AnswerCarriesSecret reports whether an answer's headers carry a secret
// that Caddy's access log would write in clear (it reads the response
// headers when the request is done): a refresh token or a login flow ID.
// The gateway leaves such answers out of the access log.
func AnswerCarriesSecret(h http.Header) bool {
	return h.Get(refreshHeader) != "" || h.Get(verificationHeader) != ""
}

// flowContext reads the OTP context: the X-Verification-Token header
// (newer SDKs) or the verification cookie (0.6.0).
func flowContext(r *http.Request, cookie string) string {
	if v := r.Header.Get(verificationHeader); v != "" {
		return v
	}
	if c, err := r.Cookie(cookie); err == nil {
		return c.Value
	}
	return ""
}

// clientInfo describes the client of r for the engine: its address (for
// the per-client limits), user agent, device cookie and the device ID the
// mobile SDKs send.
func (a *API) clientInfo(r *http.Request) stepup.ClientInfo {
	ci := stepup.ClientInfo{UserAgent: r.UserAgent(), IP: a.cfg.ClientIP(r), DeviceID: deviceID(r.Header)}
	if c, err := r.Cookie(deviceCookie); err == nil {
		ci.Device = c.Value
	}
	return ci
}

// deviceID reads X-Device-Id, the per-install UUID Prelude's mobile SDKs
// send on every call (prelude-passkeys.md §10.1): one header of at most 64
// letters, digits and hyphens, else none. It is the client's word: kept
// with the session for people to read, never a credential, a limit's key
// or a reason to refuse.
func deviceID(h http.Header) string {
	values := h.Values(deviceIDHeader)
	if len(values) != 1 || values[0] == "" || len(values[0]) > 64 {
		return ""
	}
	for _, c := range []byte(values[0]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return ""
		}
	}
	return strings.ToLower(values[0])
}

func (a *API) signals(r *http.Request) stepup.Signals {
	ci := a.clientInfo(r)
	return stepup.Signals{UserAgent: ci.UserAgent, Platform: "WEB", IP: ci.IP}
}

func deviceType(ua string) string {
	switch {
	case ua == "":
		return "unknown"
	case strings.Contains(ua, "iPad") || strings.Contains(ua, "Tablet"):
		return "tablet"
	case strings.Contains(ua, "Mobile"):
		return "mobile"
	}
	return "desktop"
}

// readJSON decodes a JSON body of at most 64 KiB. An empty body is allowed
// when the endpoint's fields are optional.
func readJSON(r *http.Request, v any, required bool) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(raw) > maxBodyBytes {
		return stepup.ErrBadRequest
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if required {
			return stepup.ErrBadRequest
		}
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return stepup.ErrBadRequest
	}
	return nil
}

// parseMetadata accepts an object of strings only, read strictly (no
// duplicate or case-variant keys): the hook approves these values, and
// transaction binding later compares request bodies with exactly them.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	members, err := strictjson.ParseObject(raw)
	if err != nil {
		return nil, stepup.ErrInvalidMetadata
	}
	m := make(map[string]string, len(members))
	for name, v := range members {
		if v.Kind != strictjson.String {
			return nil, stepup.ErrInvalidMetadata
		}
		m[name] = v.Text
	}
	return m, nil
}
