package caddystepup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/oidclogin"
	"github.com/caddy-stepup/caddy-stepup/sessionapi"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// oauthProvider adapts an oidclogin.Provider to the engine.
type oauthProvider struct{ p *oidclogin.Provider }

func (o oauthProvider) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	return o.p.AuthCodeURL(ctx, state, nonce, verifier)
}

func (o oauthProvider) Exchange(ctx context.Context, code, verifier, nonce string) (*stepup.OAuthIdentity, error) {
	id, err := o.p.Exchange(ctx, code, verifier, nonce)
	if err != nil {
		if errors.Is(err, oidclogin.ErrRefused) {
			return nil, fmt.Errorf("%w: %v", stepup.ErrOAuthRefused, err)
		}
		return nil, err
	}
	return &stepup.OAuthIdentity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified,
		Phone: id.Phone, PhoneVerified: id.PhoneVerified, ACR: id.ACR, AMR: id.AMR, AuthTime: id.AuthTime}, nil
}

// oauthLogins builds the engine's OAuth providers. The gateway's callback
// is {external origin}/v1/session/login/oauth/{name}/callback.
func (a *App) oauthLogins(now func() time.Time) (map[string]stepup.OAuthLogin, error) {
	if a.Login == nil || len(a.Login.OAuth) == 0 {
		return nil, nil
	}
	origin := strings.TrimSuffix(a.externalOrigin(), "/")
	out := make(map[string]stepup.OAuthLogin, len(a.Login.OAuth))
	for name, o := range a.Login.OAuth {
		p, err := oidclogin.New(oidclogin.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
			Scopes: o.Scopes, RedirectURL: origin + sessionapi.OAuthCallbackPath(name), Now: now, Leeway: time.Duration(a.Leeway)})
		if err != nil {
			return nil, fmt.Errorf("login oauth %s: %v", name, err)
		}
		out[name] = stepup.OAuthLogin{Provider: oauthProvider{p}, Issuer: o.Issuer, RedirectURIs: o.RedirectURIs, ACR: o.ACR,
			ACRMap: o.ACRMap, TrustVerifiedIdentifiers: o.TrustVerifiedIdentifiers}
	}
	return out, nil
}
