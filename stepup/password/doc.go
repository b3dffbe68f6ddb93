// Package password hashes passwords with argon2id (RFC 9106) in the PHC
// string format, so that a hash names the parameters it was made with and
// old hashes keep verifying after the parameters change; bounds how many
// hashes run at once, since each takes its memory cost in RAM; and checks
// passwords against a policy counted the way @prelude.so/js-sdk counts
// (code points; \p{Lu}, \p{Ll}, \p{Nd}, everything else a symbol).
package password
