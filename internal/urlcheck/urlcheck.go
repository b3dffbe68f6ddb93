// Package urlcheck holds the rules every URL of the configuration is
// checked with, in one place: the app's, the engine's and the webhooks'.
package urlcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// HTTP accepts an absolute http or https URL.
func HTTP(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Errors of HTTPSOrLoopback, each wrapped with the URL quoted: a caller
// that must not quote it (it may carry a secret) reports errors.Unwrap of
// the error instead.
var (
	ErrNotAbsolute = errors.New("is not an absolute URL")
	ErrNotHTTPS    = errors.New("must use https (plain http is allowed on loopback only)")
)

// HTTPSOrLoopback requires an absolute https URL; plain http only for a
// loopback host (tests, sidecars). It is the rule of every URL the gateway
// fetches keys from or sends signed data to.
func HTTPSOrLoopback(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q %w", s, ErrNotAbsolute)
	}
	if u.Scheme == "https" || (u.Scheme == "http" && IsLoopbackHost(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("%q %w", s, ErrNotHTTPS)
}

// RedirectURI checks an app URL a login ticket may be sent to: https (http
// on loopback only), no user info, no fragment, nothing a browser would
// read otherwise (spaces, backslashes, control characters).
func RedirectURI(s string) error {
	if err := HTTPSOrLoopback(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.User != nil || strings.Contains(s, "#") || strings.ContainsAny(s, " \\\t\r\n") {
		return fmt.Errorf("%q: no user info, fragment, space or backslash", s)
	}
	return nil
}

// IsLoopbackHost reports whether host is localhost or a loopback IP
// address. Names that merely start like one (127.attacker.example) are
// not.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}
