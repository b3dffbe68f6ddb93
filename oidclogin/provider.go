package oidclogin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is one provider, as configured.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes asked for; default openid email phone profile.
	Scopes []string
	// RedirectURL is the gateway's callback, registered at the provider.
	RedirectURL string
	// HTTPClient makes every call to the provider (discovery, keys, token
	// endpoint); default: 10 s timeout, no redirects followed.
	HTTPClient *http.Client
	// Now is the clock ID tokens are checked with (exp, iat); default
	// time.Now.
	Now func() time.Time
	// Leeway is how far in the future an ID token's iat may be; default
	// 30 s.
	Leeway time.Duration
}

// Refusals. ErrUnavailable: the provider could not be reached or answered
// nonsense; fail closed. ErrRefused: the provider (or its ID token) said
// no: a wrong code, an invalid or mismatched ID token.
var (
	ErrUnavailable = errors.New("oidclogin: provider unavailable")
	ErrRefused     = errors.New("oidclogin: login refused")
)

// rediscoverAfter bounds how often a failed discovery is tried again.
const rediscoverAfter = 10 * time.Second

// Provider is the relying party of one provider. Discovery happens at the
// first login, not at start: a provider that is down does not keep the
// gateway from starting, and its logins fail closed until it answers.
type Provider struct {
	cfg Config

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
}

// New checks cfg and returns a Provider that has not contacted anyone yet.
func New(cfg Config) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("oidclogin: issuer, client_id and the redirect URL are required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "phone", "profile"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	return &Provider{cfg: cfg}, nil
}

// discovered runs discovery once (again at most every rediscoverAfter
// after a failure) and returns the OAuth client and ID token verifier.
func (p *Provider) discovered(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oauth != nil {
		return p.oauth, p.verifier, nil
	}
	if !p.failedAt.IsZero() && time.Since(p.failedAt) < rediscoverAfter {
		return nil, nil, ErrUnavailable
	}
	// The provider's keys are fetched with this client for as long as
	// the gateway runs, not only during this request.
	keysCtx := oidc.ClientContext(context.WithoutCancel(ctx), p.cfg.HTTPClient)
	provider, err := oidc.NewProvider(keysCtx, p.cfg.Issuer)
	if err != nil {
		p.failedAt = time.Now()
		return nil, nil, fmt.Errorf("%w: discovery: %v", ErrUnavailable, err)
	}
	p.oauth = &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: provider.Endpoint(),
		RedirectURL: p.cfg.RedirectURL, Scopes: p.cfg.Scopes}
	p.verifier = provider.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.Now})
	return p.oauth, p.verifier, nil
}

// AuthCodeURL is where the browser goes to log in: the provider's
// authorization endpoint with state, nonce and the S256 challenge of
// pkceVerifier.
func (p *Provider) AuthCodeURL(ctx context.Context, state, nonce, pkceVerifier string) (string, error) {
	oauth, _, err := p.discovered(ctx)
	if err != nil {
		return "", err
	}
	return oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkceVerifier)), nil
}

// Exchange redeems an authorization code with the PKCE verifier, checks
// the ID token (go-oidc, then the strict reading) and its nonce, and
// returns who logged in.
func (p *Provider) Exchange(ctx context.Context, code, pkceVerifier, nonce string) (*Identity, error) {
	oauth, verifier, err := p.discovered(ctx)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	token, err := oauth.Exchange(ctx, code, oauth2.VerifierOption(pkceVerifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return nil, fmt.Errorf("%w: token endpoint: %s", ErrRefused, re.ErrorCode)
		}
		return nil, fmt.Errorf("%w: token endpoint: %v", ErrUnavailable, err)
	}
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: no id_token", ErrRefused)
	}
	if _, err := verifier.Verify(ctx, raw); err != nil {
		return nil, fmt.Errorf("%w: id_token: %v", ErrRefused, err)
	}
	id, err := readIDToken(raw)
	if err != nil {
		return nil, err
	}
	if id.Issuer != p.cfg.Issuer || subtle.ConstantTimeCompare([]byte(id.nonce), []byte(nonce)) != 1 || nonce == "" {
		return nil, fmt.Errorf("%w: id_token issuer or nonce", ErrRefused)
	}
	if err := id.checkIssuance(p.cfg.ClientID, p.cfg.Now(), p.cfg.Leeway); err != nil {
		return nil, err
	}
	return id, nil
}
