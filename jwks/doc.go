// Package jwks holds the gateway's keys and verifies the tokens it is shown.
//
// It provides key sources (a remote JWKS with bounded refresh, a static set,
// the gateway's own ES256 key), a Signer for the tokens and webhook
// signatures the gateway produces, a PSSSigner (RSA, PS256) for the session
// webhooks signed as Prelude signs them, and a Verifier that applies the rules of
// docs/security.md: compact serialisation only, a size cap before parsing,
// an asymmetric algorithm allow-list that must match the key, typ per token
// kind, no crit, exp required, iss/aud checked, claims read with exact names.
//
// Every problem with a presented token is reported as ErrInvalidToken, so
// callers can answer all of them identically; ErrUnavailable means the keys
// could not be obtained and the caller should answer 503.
//
// The package is plain Go: no Caddy import, and no jwx type in its API.
package jwks
