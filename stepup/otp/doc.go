// Package otp generates one-time codes, stores them only as HMAC digests, and
// delivers them through a Sender: a development log sender, a signed webhook
// and SMTP.
//
// Security notes: codes come from crypto/rand without modulo bias; only
// Digest(key, scope, code) is meant to be stored, and Match compares in
// constant time. Senders never put a code in an error message. The webhook
// sender retries only when the receiver certainly saw nothing, so one Send
// never delivers a code twice; receivers deduplicate on X-Stepup-Delivery-Id in
// any case.
package otp
