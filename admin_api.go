package caddystepup

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI (`admin.api.stepup`) serves the admin routes and Prelude's
// management calls (package adminapi) on Caddy's admin endpoint, for
// operators: whoever reaches that endpoint can already change the whole
// config through /config and /load. The stepup app's `management_key`,
// when set, is required on every route. For a caller that must not reach
// /config (a backend on another host), serve the same routes with the
// stepup_management handler instead.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.stepup",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminapi.Prefix, Handler: caddy.AdminHandlerFunc(serveAdminEndpoint)}}
}

// serveAdminEndpoint answers with the stepup app of the running config,
// looked up per request. Caddy provisions admin modules when it replaces
// the admin endpoint, which it does before the new config's apps start and
// does not undo when they fail: an admin module bound to the app of its
// own config would, after a refused config, serve an app that never
// started. caddy.ActiveContext changes only once a config has started.
func serveAdminEndpoint(w http.ResponseWriter, r *http.Request) error {
	var cfg adminapi.Config
	if app := runningApp(); app != nil {
		key := ""
		if app.Management != nil {
			key = app.Management.Key
		}
		cfg = app.adminConfig(key, endpointOfRequest(r))
	}
	adminapi.New(cfg).ServeHTTP(w, r)
	return nil
}

// runningApp is the stepup app of the config Caddy runs, nil if none.
func runningApp() *App {
	v, err := caddy.ActiveContext().AppIfConfigured("stepup")
	if err != nil {
		return nil
	}
	app, _ := v.(*App)
	return app
}

// adminConfig is what the admin routes serve this app with: its engine if
// it runs one, its management calls (changes go through config), and key.
func (a *App) adminConfig(key string, config configAPI) adminapi.Config {
	cfg := adminapi.Config{Key: key, Management: &management{app: a, config: config, now: time.Now}}
	rt := a.runtime()
	if rt == nil {
		return cfg
	}
	if rt.engine != nil {
		cfg.Engine = rt.engine
	}
	cfg.SignalStreams = appStreams{app: a, rt: rt}
	if rt.revocations.list != nil {
		cfg.Revocations, cfg.GatewayIssuer, cfg.RevocationIssuers, cfg.Now = rt.revocations, a.Issuer, a.revocationIssuers(), rt.now
	}
	return cfg
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
