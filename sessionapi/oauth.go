package sessionapi

import (
	"net/http"
	"strings"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// OAuth login (prelude-protocol.md §9.4): POST
// /login/oauth/{provider}/authorize from the SDK, and the provider's
// redirect back to GET /login/oauth/{provider}/callback, answered with a
// redirect to the app carrying the login ticket.

const oauthPrefix = "/login/oauth/"

// OAuthCallbackPath is the path of a provider's callback, to register at
// the provider (after the gateway's external origin).
func OAuthCallbackPath(provider string) string {
	return Prefix + oauthPrefix + provider + "/callback"
}

// oauthEndpoint splits /login/oauth/{provider}/{authorize|callback}.
func oauthEndpoint(endpoint string) (provider, action string, ok bool) {
	rest, found := strings.CutPrefix(endpoint, oauthPrefix)
	if !found {
		return "", "", false
	}
	provider, action, found = strings.Cut(rest, "/")
	if !found || provider == "" || !stepup.ValidKey(provider) || (action != "authorize" && action != "callback") {
		return "", "", false
	}
	return provider, action, true
}

func (a *API) serveOAuth(w http.ResponseWriter, r *http.Request, provider, action string) {
	want := http.MethodPost
	if action == "callback" {
		want = http.MethodGet
	}
	if r.Method != want {
		w.Header().Set("Allow", want)
		a.fail(w, r, errMethod)
		return
	}
	if a.cfg.Engine == nil {
		a.fail(w, r, stepup.ErrNotConfigured)
		return
	}
	if action == "authorize" {
		a.beginOAuth(w, r, provider)
		return
	}
	a.oauthCallback(w, r, provider)
}

func (a *API) beginOAuth(w http.ResponseWriter, r *http.Request, provider string) {
	if a.crossSite(r) {
		a.fail(w, r, errCrossSite)
		return
	}
	var body struct {
		RedirectURI         string `json:"redirect_uri"`
		CodeChallenge       string `json:"code_challenge"`
		CodeChallengeMethod string `json:"code_challenge_method"`
	}
	if err := readJSON(r, &body, true); err != nil {
		a.fail(w, r, err)
		return
	}
	start, err := a.cfg.Engine.BeginOAuth(r.Context(), provider, body.RedirectURI, body.CodeChallenge, body.CodeChallengeMethod,
		cookieValue(r, oauthCookie), a.clientInfo(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The browser binding: the SDK's fetch is credentialed, so the browser
	// keeps this cookie (where its policy allows) and sends it with the
	// provider's redirect to the callback, which refuses a callback
	// without it.
	a.setCookie(w, oauthCookie, start.Browser, stepup.OAuthLoginTTL)
	a.ok(w, map[string]string{"authorization_url": start.AuthorizationURL})
}

// cookieValue is the value of the cookie name, or "".
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// oauthCallback is a top-level navigation from the provider: it answers
// with a redirect, never a page. A state that is not one of this gateway's
// has nowhere safe to go back to: it gets the JSON refusal.
func (a *API) oauthCallback(w http.ResponseWriter, r *http.Request, provider string) {
	q := r.URL.Query()
	back, err := a.cfg.Engine.CompleteOAuth(r.Context(), provider, q.Get("state"), q.Get("code"), q.Get("error"), cookieValue(r, oauthCookie))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Location", back.Location())
	w.WriteHeader(http.StatusSeeOther)
}
