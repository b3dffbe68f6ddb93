// Package caddystepup is a Caddy plugin that puts step-up authentication in
// front of existing APIs without changing their code.
//
// It registers these modules:
//
//   - the `stepup` app (Caddyfile: the `stepup` global option), which holds
//     what every route shares: the issuers whose access tokens are trusted, the
//     gateway's own signing key, the scopes that can be stepped up;
//   - the `http.handlers.stepup` handler (directive `stepup`), which verifies
//     the access token of each request and enforces the scopes its route
//     requires;
//   - the `http.handlers.stepup_session` handler (directive
//     `stepup_session`), which serves the gateway's own endpoints (its JWKS,
//     and the session API the Prelude web SDK speaks);
//   - the `http.handlers.stepup_management` handler (directive
//     `stepup_management`) and the `admin.api.stepup` admin routes, which
//     serve the admin routes and Prelude's management calls (package
//     adminapi), the first on a site of the operator's choice with its own
//     key, the second on Caddy's admin endpoint.
//
// The Caddy side is a thin shell: keys and token verification live in the
// plain-Go package jwks, the engine in stepup, the metrics and the audit
// log in telemetry.
package caddystepup

import (
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `stepup` app: the settings every `stepup` and `stepup_session`
// handler of a Caddy instance shares. It is configured with the `stepup`
// global option of the Caddyfile, or under `apps.stepup` in JSON.
//
// A request's access token is accepted when it was minted by this gateway
// (`issuer`, verified with the gateway's own key) or by one of the `trust`ed
// issuers (verified with the keys of that issuer's JWKS only).
type App struct {
	appconfig.Config

	ctx    caddy.Context
	logger *zap.Logger
	// recorder counts the engine's events and writes the audit log
	// (stepup.audit).
	recorder *telemetry.Recorder
	// rt is what Start acquired; nil before (and during `caddy validate`,
	// which never starts apps): handlers answer 503 until it is set.
	rt *atomic.Pointer[appRuntime]
	// started fires when rt is set, or will never be (awaitRuntime).
	started  *startSignal
	remotes  []string // pool keys of the remote key sets Start acquired
	storeKey string   // pool key of the store Start acquired
	// revocationKey is the pool key of the revocation list Start acquired.
	revocationKey string
	// webhooksKey and webhooksPooled are the webhook dispatcher Start
	// acquired.
	webhooksKey    string
	webhooksPooled *pooledDispatcher
	// resources gathers the routes by resource for their RFC 9728
	// metadata; sessionServed: a stepup_session handler was provisioned
	// with this config (the gateway is then an authorization server).
	// Both are written while the config is provisioned, read after.
	resources     *resourcemeta.Catalog
	sessionServed bool
	// signalStreams are the stepup_signals transmitters of this config,
	// for the admin routes of their streams.
	signalStreams *signalStreams
	// settings are the engine's settings, its defaults applied
	// (Provision): what the engine is given at Start, and what the app
	// reads of them (leeway, audience, login acr).
	settings stepup.Config
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup",
		New: func() caddy.Module { return new(App) },
	}
}

// accessTokenType is the `typ` of access tokens (RFC 9068).
const accessTokenType = "at+jwt"

// appFrom loads the stepup app (an empty one when it is not configured).
func appFrom(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("stepup")
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
