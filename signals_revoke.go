package caddystepup

import (
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
)

// revocationList is the revocation list `stepup` checks tokens against,
// nil when this gateway has none.
func (rt *appRuntime) revocationList() *revocation.List { return nil }

// tokenLifetime is how long the access tokens of issuer that `stepup`
// accepts can live: the gateway's own (access_token_ttl), a trusted
// issuer's; false for an issuer whose tokens are not accepted.
func (a *App) tokenLifetime(issuer string) (time.Duration, bool) {
	if issuer == "" {
		return 0, false
	}
	if issuer == a.Issuer {
		return time.Duration(a.AccessTokenTTL), true
	}
	for _, t := range a.Trust {
		if t.Issuer == issuer {
			return 24 * time.Hour, true
		}
	}
	return 0, false
}
