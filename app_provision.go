package caddystepup

import (
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/caddy-stepup/resourcemeta"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// The app's lifecycle is one pass in three steps, each in Caddy's own
// place for it:
//
//   - Provision (this file) resolves every placeholder and fills in the
//     defaults (appconfig's SetDefaults; the engine's settings with
//     theirs, from the pure EngineConfig): no I/O, nothing acquired;
//   - Validate (appconfig.Config.Validate, promoted to App) checks every
//     field, reading only: the engine's settings with the engine's own
//     rules (stepup.Config.Validate);
//   - Start (app_start.go) acquires what the config needs: the signing key,
//     the store and its connections, the remote key sets.
//
// `caddy validate` provisions and validates but never starts apps, so it
// has no side effects: no Redis connection, no key written to storage, no
// JWKS fetched.

// Provision resolves placeholders ({env.*}) and sets defaults.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.recorder = telemetry.NewRecorder(a.logger.Named("audit"))
	if err := telemetry.Register(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	a.rt = new(atomic.Pointer[appRuntime])
	a.signalStreams = new(signalStreams)
	a.resources = new(resourcemeta.Catalog)
	a.started = newStartSignal()
	a.resolvePlaceholders(caddy.NewReplacer())
	a.setDefaults()
	return nil
}

// resolvePlaceholders replaces the known placeholders ({env.*}) of every
// field that may hold one (appconfig.Config.ResolvePlaceholders).
func (a *App) resolvePlaceholders(repl *caddy.Replacer) {
	a.ResolvePlaceholders(func(s string) string { return repl.ReplaceKnown(s, "") })
}

// setDefaults fills in the defaults of the app's settings
// (appconfig.Config.SetDefaults), then keeps the engine's settings with
// theirs (stepup.Config.WithDefaults).
func (a *App) setDefaults() {
	a.SetDefaults()
	a.settings = a.EngineConfig().WithDefaults()
}
