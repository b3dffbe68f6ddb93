package caddystepup

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
)

func init() {
	caddy.RegisterModule(ManagementHandler{})
}

// minManagementKeyLength is the shortest key stepup_management accepts: a
// listener other hosts reach is open to guessing.
const minManagementKeyLength = 16

// ManagementHandler (`http.handlers.stepup_management`) serves the admin
// routes and Prelude's management calls (package adminapi: sessions,
// grants, challenges, `config/stepup`, `config/scopes`) under /stepup/ on
// a site of the operator's choice, e.g. one bound to a backend network.
// Every request needs `Authorization: Bearer <key>`. Other paths go to the
// next handler.
//
// What a caller with the key can do: end users' sessions, revoke their
// grants, read challenges, and replace the app's scope blocks and custom
// step keys (which decides who passes a step-up). What it cannot: read or
// change anything else of Caddy's config (the site serves no /config,
// /load or /stop; changes touch apps.stepup's scopes, custom_steps and
// management only), nor this key, which lives in the handler's own config
// and never in apps.stepup.
//
// Changes are applied through Caddy's admin endpoint (POST
// /config/apps/stepup, as `caddy reload` does), which may stay on
// localhost or a unix socket.
type ManagementHandler struct {
	// The key callers present as `Authorization: Bearer <key>`, compared in
	// constant time. Required: at least 16 characters once placeholders
	// are resolved. Write it as {env.NAME} or {file./path}; it is resolved
	// once, at Provision.
	Key string `json:"key,omitempty"`

	// The address of Caddy's admin endpoint, which changes go through
	// (host:port, or unix//path). Default: the Caddyfile's `admin` global
	// option, else Caddy's default (localhost:2019, or $CADDY_ADMIN).
	Admin string `json:"admin,omitempty"`

	key      string
	app      *App
	endpoint *adminEndpoint
}

// CaddyModule returns the Caddy module information.
func (ManagementHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepup_management",
		New: func() caddy.Module { return new(ManagementHandler) },
	}
}

// Provision resolves the key and attaches the handler to the stepup app.
func (h *ManagementHandler) Provision(ctx caddy.Context) error {
	h.key = caddy.NewReplacer().ReplaceKnown(h.Key, "")
	admin := h.Admin
	if admin == "" {
		admin = caddy.DefaultAdminListen
	}
	endpoint, err := endpointAt(admin)
	if err != nil {
		return fmt.Errorf("stepup_management: admin %q: %v", admin, err)
	}
	h.endpoint = endpoint
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	h.app = app
	return nil
}

// Validate refuses a missing or short key. Its errors never quote the key.
func (h *ManagementHandler) Validate() error {
	if h.key == "" {
		return errors.New("stepup_management: key is required (write it as {env.NAME}); the key's placeholder may have resolved to nothing")
	}
	if len(h.key) < minManagementKeyLength {
		return fmt.Errorf("stepup_management: key must be at least %d characters", minManagementKeyLength)
	}
	if strings.ContainsFunc(h.key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return errors.New("stepup_management: key must hold no space or control character")
	}
	return nil
}

// ServeHTTP answers the admin routes with this config's app.
func (h *ManagementHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !adminapi.Owns(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	h.app.awaitRuntime(r.Context()) // a request before Start waits for the engine
	adminapi.New(h.app.adminConfig(h.key, h.endpoint)).ServeHTTP(w, r)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ManagementHandler)(nil)
	_ caddy.Validator             = (*ManagementHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ManagementHandler)(nil)
)
