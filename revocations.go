// The revocation list in the Caddy shell: its config block, one list per
// store shared across reloads, and the revoker the engine, the admin API
// and signals record revocations through.

package caddystepup

import (
	"context"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/revocation"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// parseRevocation reads the revocation block:
//
//	revocation {
//		poll_interval <duration>
//		max_staleness <duration>
//		max_entries   <n>
//	}
func parseRevocation(d *caddyfile.Dispenser) (*appconfig.RevocationConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	c := new(appconfig.RevocationConfig)
	err := parseWords(d, "revocation", map[string]word{
		"poll_interval": {dur: &c.PollInterval}, "max_staleness": {dur: &c.MaxStaleness}, "max_entries": {num: &c.MaxEntries},
	})
	return c, err
}

// revocationLists shares one list per store and settings across config
// reloads: a reload neither reads the whole list again nor loses a
// revocation an in-memory store holds.
var revocationLists = caddy.NewUsagePool()

type pooledList struct{ *revocation.List }

// Destruct stops the list's reader when the last config lets go.
func (p pooledList) Destruct() error {
	p.Stop()
	return nil
}

// acquireRevocations shares the revocation list of the store Start
// acquired, reading it whole the first time (a config whose list cannot
// be read fails to load).
func (a *App) acquireRevocations(ledger store.Ledger, now func() time.Time) (*revocation.List, error) {
	c := a.Revocation
	key := fmt.Sprintf("%s|%d|%d|%d", a.storeKey, c.PollInterval, c.MaxStaleness, c.MaxEntries)
	v, _, err := revocationLists.LoadOrNew(key, func() (caddy.Destructor, error) {
		l, err := revocation.New(revocation.Options{Ledger: ledger, Now: now, PollInterval: time.Duration(c.PollInterval),
			MaxStaleness: time.Duration(c.MaxStaleness), MaxEntries: c.MaxEntries,
			OnRead: telemetry.RevocationRead, OnStale: reportRevocationStale})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Start(ctx); err != nil {
			l.Stop()
			return nil, fmt.Errorf("reading the revocation list: %v", err)
		}
		return pooledList{l}, nil
	})
	if err != nil {
		return nil, err
	}
	a.revocationKey = key
	return v.(pooledList).List, nil
}

// releaseRevocations gives back the list Start acquired, if any.
func (a *App) releaseRevocations() {
	if a.revocationKey == "" {
		return
	}
	if _, err := revocationLists.Delete(a.revocationKey); err != nil {
		a.logger.Error("releasing the revocation list", zap.Error(err))
	}
	a.revocationKey = ""
}

// reportRevocationStale logs and shows a list going stale and fresh
// again. Lists outlive configs, so it reads the logger at each call.
func reportRevocationStale(stale bool) {
	telemetry.RevocationStale(stale)
	log := caddy.Log().Named("stepup.revocation")
	if stale {
		log.Error("the revocation list could not be read for longer than max_staleness: every access token is refused (503) until it can be")
		return
	}
	log.Info("the revocation list is read again: access tokens are accepted")
}

// revoker records revocations in the list, and counts and audits each
// with the config's recorder. The engine, the admin API and signals
// revoke through it.
type revoker struct {
	list     *revocation.List
	recorder *telemetry.Recorder
}

// Revoke records e (revocation.List.Revoke), then counts and audits it.
func (r revoker) Revoke(ctx context.Context, e revocation.Entry) error {
	if err := r.list.Revoke(ctx, e); err != nil {
		return err
	}
	r.recorder.Revoked(e)
	return nil
}

// Entries lists the list's entries (revocation.List.Entries).
func (r revoker) Entries(f revocation.Filter, limit int) ([]revocation.Entry, int) {
	return r.list.Entries(f, limit)
}

// revocationIssuers are the issuers whose tokens a revocation may name,
// each with how long one lasts when it gives no end: the lifetime of the
// issuer's longest access token (access_token_ttl, exp rounded down to
// the second; a trusted issuer's max_token_lifetime) plus leeway.
func (a *App) revocationIssuers() map[string]time.Duration {
	// The engine's settings, defaults applied (Provision): access_token_ttl
	// and leeway left unset are 15m and 30s there, zero in the app's words.
	leeway := a.settings.Leeway
	out := map[string]time.Duration{}
	if a.Issuer != "" {
		out[a.Issuer] = a.settings.AccessTokenTTL + leeway + time.Second
	}
	for _, t := range a.Trust {
		if t != nil {
			out[t.Issuer] = time.Duration(t.MaxTokenLifetime) + leeway
		}
	}
	return out
}
