// Package enforce is the `stepup` handler's whole decision, without Caddy.
// A Route is built once per route from plain values (RouteConfig, the
// scope Catalogue) and decides each request with the running app's parts
// (Deps, each a narrow interface): the one credential of a request (RFC
// 6750, RFC 9449), a second one hidden in the query or the body refused (a
// Content-Type every parser reads alike, form bodies and bodies without a
// Content-Type, every multipart body in one canonical form), the token
// verified, its sender constraint (DPoP proofs at the resource), the
// route's scopes, acr and max_age (RFC 9470), the single-use grants behind
// them and the transaction binding of a body to the metadata a grant was
// approved for, an MCP call's own needs, and the identity headers a client
// must never set. The answer is a pass, with the identity set for the
// upstream, or a Refusal from the one table in refusals.go.
//
// Each check is written for the parser on the other side of the gateway,
// not for the spelling the gateway expects: percent and %u encodings, case
// folding, duplicates, PHP's and Rails' name mangling, other content types
// and sizes past each limit are refused or normalised before comparing.
package enforce
