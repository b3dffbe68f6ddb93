package caddystepup

import "time"

// tokenLifetime is how long the access tokens of issuer that `stepup`
// accepts can live: the gateway's own (access_token_ttl), a trusted
// issuer's (its max_token_lifetime); false for an issuer whose tokens are
// not accepted.
func (a *App) tokenLifetime(issuer string) (time.Duration, bool) {
	if issuer == "" {
		return 0, false
	}
	if issuer == a.Issuer {
		return time.Duration(a.AccessTokenTTL), true
	}
	for _, t := range a.Trust {
		if t.Issuer == issuer {
			return time.Duration(t.MaxTokenLifetime), true
		}
	}
	return 0, false
}
