// Package oidclogin is the gateway as an OpenID Connect relying party of
// one provider: discovery and the provider's keys through
// github.com/coreos/go-oidc/v3, the authorization code flow with PKCE
// (S256) through golang.org/x/oauth2, and the ID token checked twice: by
// go-oidc (signature, iss, aud, exp) and by the gateway's own strict
// reading (jose, internal/strictjson: exact claim names, no duplicates,
// claims of the wrong type refused, the nonce compared in constant time,
// azp checked when present and required with several audiences, iat
// required and not in the future).
// State, nonce and PKCE verifier are the caller's to keep (single use, in
// the store); this package holds no per-login state.
package oidclogin
