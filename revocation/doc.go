// Package revocation is the list of revoked access tokens that the stepup
// handler checks on every request: by session (sid), by subject (sub, the
// tokens issued until the revocation) and by token (jti), for the tokens
// the gateway mints and for those of trusted issuers.
//
// Every instance holds the whole list in memory and checks a token against
// it without a store round trip. The list is kept in a store.Ledger shared
// by the instances: a revocation is written there, applied at once by the
// instance that made it, and read by the others when the ledger wakes them
// (Redis pub/sub) or, should a wake-up be missed, at the next poll. An
// instance that could not read the ledger for longer than MaxStaleness
// refuses every token (ErrStale) until it can again: it cannot know what
// was revoked meanwhile.
package revocation
