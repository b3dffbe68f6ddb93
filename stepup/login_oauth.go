package stepup

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"go.uber.org/zap"
)

// OAuth / OpenID Connect login (SDK: initiateOAuthLogin, loginWithOAuth,
// finalizeOAuthLogin). The app starts it with its redirect URI and a PKCE
// challenge of its own; the gateway sends the browser to the provider with
// a state, a nonce and a PKCE challenge of the gateway's, all kept in the
// store and used once; the provider sends the browser back to the gateway,
// which redeems the code, checks the ID token, finds or creates the user
// linked to the provider's subject, and sends the browser back to the app
// with a login ticket. The app finalizes the ticket with its PKCE verifier
// and the SDK's DPoP key: a ticket caught on its way through the browser is
// worth nothing without that verifier.

// OAuthIdentity is who a provider says logged in (package oidclogin reads
// it from the ID token).
type OAuthIdentity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	Phone           string
	PhoneVerified   bool
	ACR             string
	AMR             []string
	AuthTime        time.Time
}

// OAuthProvider is the relying party of one OpenID provider.
type OAuthProvider interface {
	// AuthCodeURL is the provider's authorization URL for this login.
	AuthCodeURL(ctx context.Context, state, nonce, pkceVerifier string) (string, error)
	// Exchange redeems the code and returns the checked identity; errors
	// are ErrOAuthRefused-like (the provider said no) or unavailability.
	Exchange(ctx context.Context, code, pkceVerifier, nonce string) (*OAuthIdentity, error)
}

// OAuthLogin is one configured provider.
type OAuthLogin struct {
	Provider OAuthProvider
	// Issuer is the provider's issuer, as its ID tokens name it.
	Issuer string
	// TrustVerifiedIdentifiers makes the email address and phone number
	// the provider says are verified count as proven (users.go): code and
	// password logins with them reach the provider's user, and step-up
	// codes go to them. It trusts the provider with every account whose
	// address it vouches for. Off: they are contact data only.
	TrustVerifiedIdentifiers bool
	// RedirectURIs the app may ask to come back to, exact match; at least
	// one.
	RedirectURIs []string
	// ACR of the tokens of its logins; "": the ID token's acr, else
	// DefaultOAuthACR.
	ACR string
	// ACRMap turns the provider's acr values into the gateway's: an entry
	// is the only way a login of this provider earns an acr the gateway
	// awards itself (login, possession, password, scope, other providers'
	// acrs). It comes before ACR.
	ACRMap map[string]string
}

// DefaultOAuthACR is the acr of an OAuth login whose ID token has none.
const DefaultOAuthACR = "urn:stepup:oauth"

// OAuthLoginTTL is how long a login may stay at the provider (its state,
// and the browser binding's cookie).
const OAuthLoginTTL = 10 * time.Minute

// oauthState is one login at the provider, stored under its state.
type oauthState struct {
	V            int    `json:"v"`
	Provider     string `json:"provider"`
	AppRedirect  string `json:"app_redirect"`
	AppChallenge string `json:"app_challenge"`
	Nonce        string `json:"nonce"`
	PKCEVerifier string `json:"pkce_verifier"` // the gateway's, towards the provider
	// Browser is the SHA-256 (base64url) of the browser binding the start
	// handed out: the callback must come with the binding itself.
	Browser       string `json:"browser"`
	ClientIP      string `json:"client_ip,omitempty"`
	CreatedUnixMs int64  `json:"created"`
}

func oauthStateKey(state string) string { return "oas:{" + state + "}" }

// Refusals of OAuth login (codes the SDK maps to BadRequest).
var (
	ErrOAuthNotConfigured = newError(KindBadRequest, "oauth_provider_not_configured", "This OAuth provider is not configured on this gateway.")
	ErrInvalidRedirectURI = newError(KindBadRequest, "invalid_redirect_uri", "This redirect_uri is not allowed.")
	ErrOAuthState         = newError(KindBadRequest, "bad_request", "The login is unknown, expired or already finished: start again.")
	ErrOAuthBrowser       = newError(KindBadRequest, "bad_request", "This login was started in another browser, or this browser did not keep the gateway's cookie: start again.")
	ErrOAuthRefused       = newError(KindUnauthorized, "unauthorized", "The provider did not confirm the login.")
)

// OAuthStart is a started login: where to send the browser, and the
// browser binding to keep in the browser (a cookie) until the callback.
type OAuthStart struct {
	AuthorizationURL string
	Browser          string
}

// BeginOAuth starts a login with provider for the app at appRedirect (one
// of the provider's RedirectURIs, exactly), whose PKCE challenge (S256)
// finalizing will need. browser is the binding the browser holds from an
// earlier start, if any: it is reused, so that several logins may be under
// way in one browser; otherwise a new one is made. Each start counts as a
// login start of the client.
func (e *Engine) BeginOAuth(ctx context.Context, provider, appRedirect, appChallenge, method, browser string, client ClientInfo) (*OAuthStart, error) {
	if len(e.cfg.OAuth) == 0 {
		return nil, ErrNotConfigured
	}
	p, ok := e.cfg.OAuth[provider]
	if !ok {
		return nil, ErrOAuthNotConfigured
	}
	if !redirectAllowed(appRedirect, p.RedirectURIs) {
		return nil, ErrInvalidRedirectURI
	}
	if method != "S256" || !isBase64URL(appChallenge, 43) {
		return nil, ErrBadRequest
	}
	if err := e.allowLoginWork(ctx, client); err != nil {
		return nil, err
	}
	if !isBase64URL(browser, 43) {
		browser = newSecret()
	}
	state, nonce, verifier := newSecret(), newSecret(), newSecret()
	st := oauthState{V: recordVersion, Provider: provider, AppRedirect: appRedirect, AppChallenge: appChallenge,
		Nonce: nonce, PKCEVerifier: verifier, Browser: browserDigest(browser), ClientIP: client.IP, CreatedUnixMs: e.now().UnixMilli()}
	if err := e.cfg.Store.Create(ctx, oauthStateKey(state), mustJSON(st), OAuthLoginTTL); err != nil {
		return nil, storeErr(err)
	}
	u, err := p.Provider.AuthCodeURL(ctx, state, nonce, verifier)
	if err != nil {
		return nil, unavailable(err)
	}
	return &OAuthStart{AuthorizationURL: u, Browser: browser}, nil
}

// browserDigest is what the store keeps of a browser binding.
func browserDigest(browser string) string {
	sum := sha256.Sum256([]byte(browser))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sameBrowser compares the callback's binding with the start's digest, in
// constant time.
func sameBrowser(digest, browser string) bool {
	if digest == "" || !isBase64URL(browser, 43) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(browserDigest(browser)), []byte(digest)) == 1
}

// OAuthCallback is where the gateway sends the browser after the
// provider's answer: the app's redirect URI with either the login ticket
// (challenge_token) or an error. AppRedirect is "" when the state was not
// one of this gateway's: there is nowhere safe to send the browser.
type OAuthCallback struct {
	AppRedirect string
	Ticket      string
	Error       string // OAuth error code for the app: access_denied, server_error
}

// Location is the URL to redirect to.
func (c *OAuthCallback) Location() string {
	u, err := url.Parse(c.AppRedirect)
	if err != nil {
		return ""
	}
	q := u.Query()
	if c.Ticket != "" {
		q.Set("challenge_token", c.Ticket)
	} else {
		q.Set("error", c.Error)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// CompleteOAuth handles the provider's redirect back, in the browser that
// holds browser (its binding): the state is taken (used once), the
// browser checked against the one that started the login, the code
// redeemed, the ID token checked, the user found or created, and a ticket
// issued for the app to finalize. A callback in another browser spends
// the state and redeems nothing.
func (e *Engine) CompleteOAuth(ctx context.Context, provider, state, code, providerError, browser string) (*OAuthCallback, error) {
	if len(e.cfg.OAuth) == 0 {
		return nil, ErrNotConfigured
	}
	p, ok := e.cfg.OAuth[provider]
	if !ok {
		return nil, ErrOAuthNotConfigured
	}
	if !isBase64URL(state, 43) {
		return nil, ErrOAuthState
	}
	raw, err := e.cfg.Store.Take(ctx, oauthStateKey(state))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrOAuthState
		}
		return nil, storeErr(err)
	}
	var st oauthState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, unavailable(err)
	}
	if st.Provider != provider {
		return nil, ErrOAuthState
	}
	if !sameBrowser(st.Browser, browser) {
		return nil, ErrOAuthBrowser
	}
	back := &OAuthCallback{AppRedirect: st.AppRedirect}
	if providerError != "" || code == "" || len(code) > 2048 {
		back.Error = "access_denied"
		return back, nil
	}
	id, err := p.Provider.Exchange(ctx, code, st.PKCEVerifier, st.Nonce)
	if err != nil {
		if errors.Is(err, ErrOAuthRefused) {
			back.Error = "access_denied"
			e.emit(Event{Name: EventLoginFailed, Method: ticketOAuth, ClientIP: st.ClientIP, Reason: "provider_refused"})
		} else {
			e.log.Warn("oauth login: provider unavailable", zap.String("provider", provider), zap.Error(err))
			back.Error = "server_error"
		}
		return back, nil
	}
	user, err := e.oauthUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	back.Ticket, err = e.issueTicket(ctx, loginTicket{Kind: ticketOAuth, UserID: user.ID, Event: e.oauthEvent(p, id), CodeChallenge: st.AppChallenge})
	if err != nil {
		return nil, err
	}
	// The provider vouched for the login: it completed (budgets.go).
	e.giveBack(ctx, []string{clientUnfinishedKey(budgetClient(st.ClientIP))})
	return back, nil
}

// oauthEvent is the login's authentication event: the ID token's methods
// and time, and an acr: the one ACRMap gives the token's acr, else the
// configured ACR, else the token's own unless the gateway awards it itself
// (a provider's word never claims the gateway's own levels), else
// DefaultOAuthACR. The possession rule applies to all of them.
func (e *Engine) oauthEvent(p OAuthLogin, id *OAuthIdentity) authEvent {
	now := e.now()
	event := authEvent{At: now.Unix()}
	if !id.AuthTime.IsZero() && !id.AuthTime.After(now) {
		event.At = id.AuthTime.Unix()
	}
	if amr, err := readMethods(id.AMR); err == nil {
		event.AMR = amr
	}
	acr, mapped := p.ACRMap[id.ACR]
	switch {
	case mapped && id.ACR != "":
	case p.ACR != "":
		acr = p.ACR
	case ValidACR(id.ACR) && !e.ownACRs[id.ACR]:
		acr = id.ACR
	default:
		if e.ownACRs[id.ACR] && id.ACR != DefaultOAuthACR {
			e.log.Warn("oauth login: the provider's acr is one the gateway awards itself and acr_map does not map it; the login gets "+DefaultOAuthACR,
				zap.String("acr", id.ACR))
		}
		acr = DefaultOAuthACR
	}
	event.ACR = e.earnedACR(acr, event.AMR)
	return event
}

// redirectAllowed checks an app's redirect URI: exactly one of allowed,
// byte for byte (no normalisation: what was configured is what the ticket
// may be sent to).
func redirectAllowed(raw string, allowed []string) bool {
	if raw == "" || len(raw) > 2048 {
		return false
	}
	for _, a := range allowed {
		if raw == a {
			return true
		}
	}
	return false
}
