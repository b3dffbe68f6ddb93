// Package jose is the one strict reading of JOSE objects (RFC 7515, 7517,
// 7519) that every token the gateway accepts goes through: access tokens,
// challenge and verification tokens (package jwks) and DPoP proofs
// (package stepup/dpop). Headers and claims are JSON objects read by
// internal/strictjson (exact member names, no duplicates, valid UTF-8); the
// algorithm set is asymmetric only, and a key only verifies the algorithms
// its type, curve and size allow.
package jose
