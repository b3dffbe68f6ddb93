package sessionapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// Responses: tokens, JSON bodies, refusals and cookies.

// sendTokens answers a login or refresh. The refresh token goes both in
// the X-Refresh-Token header (the web SDK keeps it in IndexedDB, so it
// works where a browser blocks third-party cookies; the mobile SDKs have
// no cookie jar) and in an HttpOnly cookie. An answer carrying it is left
// out of access logs (AnswerCarriesSecret).
func (a *API) sendTokens(w http.ResponseWriter, t *stepup.Tokens) {
	hdr := w.Header()
	hdr.Set(refreshHeader, t.RefreshToken)
	hdr.Set(refreshExpiresHeader, t.RefreshExpiresAt.UTC().Format(time.RFC3339))
	a.setCookie(w, refreshCookie, t.RefreshToken, time.Until(t.RefreshExpiresAt))
	a.ok(w, tokensAnswer{AccessToken: t.AccessToken, ExpiresAt: t.ExpiresAt.Unix()})
}

// The answers of the hot endpoints are structs, not maps: encoding/json
// writes a struct's members in their order without sorting keys or
// boxing values. Their members are in the order a map's sorted keys had,
// so the bytes are the same.

// tokensAnswer is the body of a login or refresh.
type tokensAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresAt   int64  `json:"expires_at"`
}

// stepUpAnswer is the body of stepup/request and of a call that moved a
// challenge on (no status then).
type stepUpAnswer struct {
	ChallengeToken string          `json:"challenge_token,omitempty"`
	PasskeyOptions json.RawMessage `json:"public_key_credential_request_options,omitempty"`
	Status         string          `json:"status,omitempty"`
}

// ok answers 200 with v as JSON (maps and structs of strings and numbers:
// encoding cannot fail).
func (a *API) ok(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic("sessionapi: encoding an answer: " + err.Error())
	}
	apierror.WriteJSON(w, http.StatusOK, body)
}

func (a *API) noContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// fail answers a refusal with its JSON shape and the status apierror
// decides. Store, hook and sender failures are logged, never shown.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		apierror.WriteJSON(w, he.kind.Status(), apierror.Body(he.kind, he.code, he.message, nil))
		return
	}
	e := stepup.AsError(err)
	if e.Kind == stepup.KindUnavailable {
		a.log.Error("session API request failed", zap.String("path", r.URL.Path), zap.Error(err))
	} else {
		a.debug("session API request refused", err)
	}
	var extra map[string]any
	if e.Nonce {
		if w.Header().Get("DPoP-Nonce") == "" {
			w.Header().Set("DPoP-Nonce", a.cfg.Nonces.Issue())
		}
		// RFC 9449 §8: the session API's DPoP endpoints are token endpoints,
		// whose clients read OAuth's `error` member; the SDK reads `code`.
		extra = map[string]any{"error": e.Code, "error_description": e.Message}
	}
	kind := apierror.FromEngine(e.Kind)
	apierror.WriteJSON(w, kind.Status(), apierror.Body(kind, e.Code, e.Message, extra))
}

func (a *API) debug(msg string, err error) {
	if ce := a.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(zap.Error(err))
	}
}

func (a *API) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true,
		SameSite: a.sameSite(), MaxAge: int(maxAge.Seconds())})
}

func (a *API) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: a.sameSite(), MaxAge: -1})
}

// sameSite is None when the API serves other origins (CORS), so that the
// browser sends the cookies on credentialed cross-site requests.
func (a *API) sameSite() http.SameSite {
	if len(a.cfg.CORS) > 0 {
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}
