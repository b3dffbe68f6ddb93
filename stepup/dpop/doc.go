// Package dpop verifies DPoP proofs (RFC 9449) the way the Prelude web SDK
// sends them (see docs/prelude-protocol.md §6) and issues stateless DPoP
// nonces.
//
// What this package checks: the proof is a compact JWS of at most 8 KiB with
// typ "dpop+jwt", an allow-listed asymmetric alg that matches the embedded
// public jwk (never a private or symmetric key), a valid signature by that
// jwk, and the claims jti, htm, htu and iat (see [Verifier.Verify]).
//
// What it leaves to the caller, on purpose:
//   - jti replay: the caller stores a marker per (thumbprint, jti) for the
//     iat window on session proofs. Challenge-bound proofs reuse the
//     challenge token's jti on every attempt (§6.4), so they must not be
//     rejected for replay; only the caller knows which kind it is checking.
//   - key binding: the caller compares [Proof.Thumbprint] with the key bound
//     to the session or challenge.
//   - ath: the SDK never sends access tokens with the DPoP scheme and never
//     sends ath. When a proof carries ath it must be a string; its value is
//     returned in [Proof.AccessTokenHash] and a caller that accepts
//     DPoP-bound access tokens checks it with [Proof.BoundTo]. A proof with
//     ath is not rejected for having it.
//
// The package is plain Go: jwx is used inside it, but no jwx type appears in
// its API.
package dpop
