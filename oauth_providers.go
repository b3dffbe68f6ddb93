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

// withProviders is the engine's OAuth logins, each given its provider.
// The gateway's callback is {external origin}/v1/session/login/oauth/{name}/callback.
func (a *App) withProviders(logins map[string]stepup.OAuthLogin, leeway time.Duration, now func() time.Time) (map[string]stepup.OAuthLogin, error) {
	if len(logins) == 0 {
		return nil, nil
	}
	origin := strings.TrimSuffix(a.ExternalOrigin(), "/")
	out := make(map[string]stepup.OAuthLogin, len(logins))
	for name, login := range logins {
		o := a.Login.OAuth[name]
		p, err := oidclogin.New(oidclogin.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
			Scopes: o.Scopes, RedirectURL: origin + sessionapi.OAuthCallbackPath(name), Now: now, Leeway: leeway})
		if err != nil {
			return nil, fmt.Errorf("login oauth %s: %v", name, err)
		}
		login.Provider = oauthProvider{p}
		out[name] = login
	}
	return out, nil
}
