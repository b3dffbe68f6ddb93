package stepup

import (
	"context"
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
	// RedirectURIs the app may ask to come back to (exact match); empty:
	// any URL on the gateway's own origin.
	RedirectURIs []string
	// ACR of the tokens of its logins; "": the ID token's acr, else
	// DefaultOAuthACR.
	ACR string
}

// DefaultOAuthACR is the acr of an OAuth login whose ID token has none.
const DefaultOAuthACR = "urn:stepup:oauth"

// oauthStateTTL is how long a login may stay at the provider.
const oauthStateTTL = 10 * time.Minute

// oauthState is one login at the provider, stored under its state.
type oauthState struct {
	V             int    `json:"v"`
	Provider      string `json:"provider"`
	AppRedirect   string `json:"app_redirect"`
	AppChallenge  string `json:"app_challenge"`
	Nonce         string `json:"nonce"`
	PKCEVerifier  string `json:"pkce_verifier"` // the gateway's, towards the provider
	ClientIP      string `json:"client_ip,omitempty"`
	CreatedUnixMs int64  `json:"created"`
}

func oauthStateKey(state string) string { return "oas:{" + state + "}" }

// Refusals of OAuth login (codes the SDK maps to BadRequest).
var (
	ErrOAuthNotConfigured = newError(KindBadRequest, "oauth_provider_not_configured", "This OAuth provider is not configured on this gateway.")
	ErrInvalidRedirectURI = newError(KindBadRequest, "invalid_redirect_uri", "This redirect_uri is not allowed.")
	ErrOAuthState         = newError(KindBadRequest, "bad_request", "The login is unknown, expired or already finished: start again.")
	ErrOAuthRefused       = newError(KindUnauthorized, "unauthorized", "The provider did not confirm the login.")
)

// BeginOAuth starts a login with provider for the app at appRedirect, whose
// PKCE challenge (S256) finalizing will need. It returns the provider's
// authorization URL. Each start counts as a login start of the client.
func (e *Engine) BeginOAuth(ctx context.Context, provider, appRedirect, appChallenge, method, ownOrigin string, client ClientInfo) (string, error) {
	if len(e.cfg.OAuth) == 0 {
		return "", ErrNotConfigured
	}
	p, ok := e.cfg.OAuth[provider]
	if !ok {
		return "", ErrOAuthNotConfigured
	}
	if !redirectAllowed(appRedirect, p.RedirectURIs, ownOrigin) {
		return "", ErrInvalidRedirectURI
	}
	if method != "S256" || !isBase64URL(appChallenge, 43) {
		return "", ErrBadRequest
	}
	if err := e.allowLoginWork(ctx, client); err != nil {
		return "", err
	}
	state, nonce, verifier := newSecret(), newSecret(), newSecret()
	st := oauthState{V: recordVersion, Provider: provider, AppRedirect: appRedirect, AppChallenge: appChallenge,
		Nonce: nonce, PKCEVerifier: verifier, ClientIP: client.IP, CreatedUnixMs: e.now().UnixMilli()}
	if err := e.cfg.Store.Create(ctx, oauthStateKey(state), mustJSON(st), oauthStateTTL); err != nil {
		return "", storeErr(err)
	}
	u, err := p.Provider.AuthCodeURL(ctx, state, nonce, verifier)
	if err != nil {
		return "", unavailable(err)
	}
	return u, nil
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

// CompleteOAuth handles the provider's redirect back: the state is taken
// (used once), the code redeemed, the ID token checked, the user found or
// created, and a ticket issued for the app to finalize.
func (e *Engine) CompleteOAuth(ctx context.Context, provider, state, code, providerError string) (*OAuthCallback, error) {
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
	return back, nil
}

// oauthEvent is the login's authentication event: the ID token's methods
// and time, and its acr (or the configured one).
func (e *Engine) oauthEvent(p OAuthLogin, id *OAuthIdentity) authEvent {
	now := e.now()
	event := authEvent{At: now.Unix()}
	if !id.AuthTime.IsZero() && !id.AuthTime.After(now) {
		event.At = id.AuthTime.Unix()
	}
	if amr, err := readMethods(id.AMR); err == nil {
		event.AMR = amr
	}
	acr := p.ACR
	if acr == "" {
		acr = DefaultOAuthACR
		if ValidACR(id.ACR) {
			acr = id.ACR
		}
	}
	event.ACR = e.earnedACR(acr, event.AMR)
	return event
}

// oauthUser finds the user linked to the provider's (issuer, subject), or
// creates one: that pair alone says who logged in. The email address and
// phone number the provider says are verified are recorded on the user
// (users.go): as contact data, which reaches nothing; or, for a provider
// trusted with its verified addresses, as proven and indexed, unless the
// index names another user already (a provider's word never takes over an
// identifier someone holds).
func (e *Engine) oauthUser(ctx context.Context, p OAuthLogin, id *OAuthIdentity) (*userRecord, error) {
	linkKey := identKey("oidc", id.Issuer+" "+id.Subject)
	var asserted []Identifier
	if v, ok := normalizeIdentifier(IdentifierEmail, id.Email); ok && id.EmailVerified {
		asserted = append(asserted, Identifier{Type: IdentifierEmail, Value: v})
	}
	if v, ok := normalizeIdentifier(IdentifierPhone, id.Phone); ok && id.PhoneVerified {
		asserted = append(asserted, Identifier{Type: IdentifierPhone, Value: v})
	}
	for attempt := 0; attempt < 3; attempt++ {
		var userID string
		_, err := e.load(ctx, linkKey, &userID)
		switch {
		case err == nil:
			var u userRecord
			raw, err := e.load(ctx, userKey(userID), &u)
			if errors.Is(err, store.ErrNotFound) {
				if err := e.cfg.Store.Delete(ctx, linkKey); err != nil {
					return nil, storeErr(err)
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			next := u.clone()
			if err := e.recordAssertions(ctx, &next, p, id.Issuer, asserted); err != nil {
				return nil, err
			}
			if err := e.cfg.Store.Swap(ctx, userKey(u.ID), raw, mustJSON(next), e.cfg.UserTTL); err != nil {
				if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
					continue
				}
				return nil, storeErr(err)
			}
			if err := e.cfg.Store.Set(ctx, linkKey, mustJSON(u.ID), e.cfg.UserTTL); err != nil {
				return nil, storeErr(err)
			}
			return &next, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		u := &userRecord{V: recordVersion, ID: newID(prefixUser), Created: e.now().Unix(), Identifiers: []userIdentifier{}}
		err = e.cfg.Store.Create(ctx, linkKey, mustJSON(u.ID), e.cfg.UserTTL)
		if errors.Is(err, store.ErrExists) {
			continue // a concurrent first login linked it: read it
		}
		if err != nil {
			return nil, storeErr(err)
		}
		if err := e.recordAssertions(ctx, u, p, id.Issuer, asserted); err != nil {
			return nil, err
		}
		if err := e.cfg.Store.Set(ctx, userKey(u.ID), mustJSON(u), e.cfg.UserTTL); err != nil {
			return nil, storeErr(err)
		}
		return u, nil
	}
	return nil, unavailable(errors.New("user link keeps changing"))
}

// recordAssertions writes what a provider asserted onto u. Without trust
// (the default) a new address becomes contact data and nothing else; an
// entry already there is left as it is. With trust, an address is indexed
// to u unless the index names someone else: then it stays (or becomes)
// contact data here.
func (e *Engine) recordAssertions(ctx context.Context, u *userRecord, p OAuthLogin, issuer string, asserted []Identifier) error {
	for _, ident := range asserted {
		held := u.find(ident)
		if !p.TrustVerifiedIdentifiers {
			if held == nil {
				u.Identifiers = append(u.Identifiers, userIdentifier{Identifier: ident, Issuer: issuer})
			}
			continue
		}
		ours, err := e.indexIdentifier(ctx, ident, u.ID)
		if err != nil {
			return err
		}
		switch {
		case held == nil && ours:
			u.Identifiers = append(u.Identifiers, userIdentifier{Identifier: ident, ProvenBy: provenByProvider,
				ProvenAt: e.now().Unix(), Issuer: issuer})
		case held == nil:
			u.Identifiers = append(u.Identifiers, userIdentifier{Identifier: ident, Issuer: issuer})
		case ours && !e.proven(held):
			*held = userIdentifier{Identifier: ident, ProvenBy: provenByProvider, ProvenAt: e.now().Unix(), Issuer: issuer}
		case !ours && held.ProvenBy == provenByProvider:
			*held = userIdentifier{Identifier: ident, Issuer: issuer} // its index went to a code's prover
		}
	}
	return nil
}

// indexIdentifier points an identifier's index at userID unless it names
// another user; it reports whether the index names userID.
func (e *Engine) indexIdentifier(ctx context.Context, ident Identifier, userID string) (bool, error) {
	err := e.cfg.Store.Create(ctx, identKey(ident.Type, ident.Value), mustJSON(userID), e.cfg.UserTTL)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, store.ErrExists):
		return false, storeErr(err)
	}
	return e.indexedTo(ctx, ident, userID)
}

// redirectAllowed checks an app's redirect URI: an exact entry of allowed,
// or, when none is configured, an https (or loopback http) URL on the
// gateway's own origin. No fragment, no user info.
func redirectAllowed(raw string, allowed []string, ownOrigin string) bool {
	if len(raw) > 2048 {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Fragment != "" || u.User != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return false
	}
	if len(allowed) > 0 {
		for _, a := range allowed {
			if raw == a {
				return true
			}
		}
		return false
	}
	return u.Scheme+"://"+u.Host == ownOrigin
}
