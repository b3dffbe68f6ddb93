package caddystepup

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
)

func init() {
	caddy.RegisterModule(SessionHandler{})
}

// SessionHandler (`http.handlers.stepup_session`) serves the gateway's own
// endpoints:
//
//   - under `/v1/session/`, the session and step-up API that the Prelude web
//     SDK (`@prelude.so/js-sdk` 0.6.0) speaks: OTP login, DPoP-bound refresh,
//     logout, the session list, step-up requests, OTP and custom steps;
//   - its public keys at `/.well-known/jwks.json` (also at
//     `/.well-known/step-up-jwks.json`, the path Prelude documents for
//     step-up tokens), so that upstreams can verify the tokens it mints.
//
// Requests for other paths go to the next handler. Errors are JSON
// `{"code","message","type"}`, never HTML. The settings live in the
// `stepup` app (global options).
type SessionHandler struct {
	app    *App
	engine *stepup.Engine
	logger *zap.Logger
	jwks   []byte
	proofs *dpop.Verifier
	nonces *dpop.Nonces
}

// CaddyModule returns the Caddy module information.
func (SessionHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepup_session",
		New: func() caddy.Module { return new(SessionHandler) },
	}
}

// Provision attaches the handler to the stepup app.
func (s *SessionHandler) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	s.app = app
	s.jwks = app.signer.PublicJWKS()
	s.engine = app.engine
	s.proofs = &dpop.Verifier{}
	s.nonces = app.nonces
	return nil
}

// Validate checks that the app can mint tokens.
func (s *SessionHandler) Validate() error {
	if s.app != nil && s.app.Issuer == "" {
		return errors.New("stepup_session needs `issuer` in the stepup global option")
	}
	return nil
}

// ServeHTTP answers the gateway's own endpoints.
func (s *SessionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if endpoint, ok := sessionPath(r.URL.Path); ok {
		return s.serveSessionAPI(w, r, endpoint)
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/.well-known/jwks.json"),
		strings.HasSuffix(r.URL.Path, "/.well-known/step-up-jwks.json"):
		return s.serveJWKS(w, r)
	}
	return next.ServeHTTP(w, r)
}

func (s *SessionHandler) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return s.fail(w, r, errMethod)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/jwk-set+json")
	hdr.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(s.jwks)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SessionHandler)(nil)
	_ caddy.Validator             = (*SessionHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*SessionHandler)(nil)
)
