package stepup

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Device cookies (OWASP "Slow Down Online Guessing Attacks with Device
// Cookies"): a client that completed a login for an identifier receives a
// cookie naming the DPoP key it logged in with, MACed with the gateway's
// key. When it starts the next login with that cookie, and checks the code
// with that same key, its attempts are counted in a counter of its own, and
// its codes in the budget of the identifier's known devices (budgets.go):
// strangers' failures and starts for the identifier do not hold it back.
// A stolen cookie without the key earns nothing at the check.

// deviceCookie is the cookie value for a login of typ:value by the DPoP key
// jkt.
func (e *Engine) deviceCookie(typ, value, jkt string) string {
	return jkt + "." + e.deviceMAC(typ, value, jkt)
}

// deviceOf returns the key named by a device cookie, when the cookie was
// issued by this gateway (or one sharing its key) for typ:value.
func (e *Engine) deviceOf(typ, value, cookie string) (string, bool) {
	jkt, mac, ok := strings.Cut(cookie, ".")
	if !ok || jkt == "" || len(jkt) > 128 || len(mac) != 43 {
		return "", false
	}
	if !hmac.Equal([]byte(mac), []byte(e.deviceMAC(typ, value, jkt))) {
		return "", false
	}
	return jkt, true
}

func (e *Engine) deviceMAC(typ, value, jkt string) string {
	m := hmac.New(sha256.New, e.deviceKey)
	m.Write([]byte("device|" + typ + ":" + value + "|" + jkt))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
