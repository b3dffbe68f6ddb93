// Package enforce holds the request checks of the `stepup` handler that do
// not need Caddy: reading the one credential of a request (RFC 6750, RFC
// 9449), refusing a second one hidden in the query or the body (a
// Content-Type every parser reads alike, form bodies and bodies without a
// Content-Type, every multipart body in one canonical form), transaction
// binding of a body to the metadata a grant was approved for, DPoP proofs at
// the resource, and the identity headers a client must never set.
//
// Each check is written for the parser on the other side of the gateway,
// not for the spelling the gateway expects: percent and %u encodings, case
// folding, duplicates, PHP's and Rails' name mangling, other content types
// and sizes past each limit are refused or normalised before comparing.
package enforce
