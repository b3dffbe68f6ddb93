package caddystepup

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(SessionHandler{})
}

// SessionHandler (`http.handlers.stepup_session`) serves the gateway's own
// endpoints: its public keys at `/.well-known/jwks.json` (also at
// `/.well-known/step-up-jwks.json`, the path Prelude documents for step-up
// tokens), so that upstreams and other services can verify the tokens it
// mints. Requests for other paths go to the next handler.
type SessionHandler struct {
	app    *App
	logger *zap.Logger
	jwks   []byte
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
	return nil
}

// ServeHTTP answers the gateway's own endpoints.
func (s *SessionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
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
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("bad_request", "Use GET.", "bad_request", nil))
		return nil
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
	_ caddyhttp.MiddlewareHandler = (*SessionHandler)(nil)
)
