package testcaddy

import "crypto/tls"

// insecureTLS is only used to poll for readiness of servers that use
// Caddy's internal CA; tests that talk to them trust the CA's root instead.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // readiness probe only
}
