package caddystepup

import "time"

// revocationLifetime is how long a revocation of issuer's tokens lasts:
// as long as the longest access token of issuer that `stepup` accepts
// (revocationIssuers: access_token_ttl for the gateway's own, a trusted
// issuer's max_token_lifetime, plus leeway); false for an issuer whose
// tokens are not accepted, which no revocation needs to name.
func (a *App) revocationLifetime(issuer string) (time.Duration, bool) {
	if issuer == "" {
		return 0, false
	}
	d, ok := a.revocationIssuers()[issuer]
	return d, ok
}
