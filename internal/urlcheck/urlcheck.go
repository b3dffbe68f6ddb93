// Package urlcheck holds the rules every URL of the configuration is
// checked with, in one place: the app's, the engine's and the webhooks'.
package urlcheck

import (
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

// HTTPSOrLoopback requires an absolute https URL; plain http only for a
// loopback host (tests, sidecars). It is the rule of every URL the gateway
// fetches keys from or sends signed data to.
func HTTPSOrLoopback(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (plain http is allowed on loopback only)", s)
	default:
		return fmt.Errorf("%q must use https", s)
	}
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
