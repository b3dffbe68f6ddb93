// Package signals is the gateway's receiver of OpenID Shared Signals
// Framework 1.0 events: Security Event Tokens (RFC 8417) pushed by a
// transmitter (RFC 8935), carrying CAEP 1.0 and RISC 1.0 events about
// subjects written in RFC 9493's formats.
//
// It verifies a SET strictly (Receiver.Receive): compact JWS only, the
// typ secevent+jwt, an asymmetric algorithm of the transmitter's list and
// a key of the transmitter's JWKS, iss and aud exactly, iat within a
// window, no sub and no exp (SSF 1.0 §4.1), exactly one event, a sub_id
// of a known shape, and each jti once across every instance sharing the
// store. It then says what the event asks of the gateway (a Decision:
// revoke access, end sessions, drop step-ups, or nothing). Refusals carry
// the RFC 8935 error code they are answered with.
//
// Apply applies a decision to a Gateway: the engine and the revocation
// list behind the narrow interfaces Engine and Revoker. A Processor acts
// on each SET received, pushed (ServePush answers it) or polled
// (PollOnce), and counts and audits it through a Recorder.
//
// The package is plain Go: no Caddy. It reads JOSE objects with package
// jose and keys with package jwks.
package signals
