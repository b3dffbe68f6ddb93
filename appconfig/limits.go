package appconfig

// LimitsConfig bounds what clients can make the gateway do before they
// prove anything (OWASP API4:2023): logins started, and codes sent (SMS
// pumping). A client is Caddy's client IP (after `trusted_proxies`): an
// IPv4 address, or an IPv6 /48 (an attacker often holds a whole /48;
// the delays after wrong codes still fall on one /64). Thousands of honest
// users can share one address (carrier-grade NAT): the small budgets count
// only what was not proven, a login code being given back when its login
// completes and a login when it completes; the large ones bound what one
// address may do in all. Counters live in the store, so instances sharing
// it count together. Past a limit the answer is 429 `rate_limited`,
// nothing is sent or stored, and the counters counted before the refusing
// one are given back.
type LimitsConfig struct {
	// Login codes (and their resends) sent because of one client to
	// identifiers it has no device cookie of, until their login completes
	// (SMS pumping from one address). Default: 20 per 1h.
	ClientUnprovenSends *RateConfig `json:"client_unproven_sends,omitempty"`
	// How many of those one client may send to one phone number or email
	// address: its share of the destination's `otp max_per_hour`, so that
	// a stranger at one address cannot spend a victim's codes. Given back
	// when the login completes. Default: one login's codes (1 +
	// max_resends), at most half of max_per_hour (at least 1), per 1h.
	ClientDestinationSends *RateConfig `json:"client_destination_sends,omitempty"`
	// Every code sent because of one client, proven or not: login codes,
	// resends, step-up codes (one address's share of `sends`). Default:
	// 3000 per 1h.
	ClientSends *RateConfig `json:"client_sends,omitempty"`
	// Password logins, sign-ups and OAuth logins started by one client
	// until they complete (the password matched, the sign-up's code was
	// proven, the provider vouched); a password login with the device
	// cookie of an earlier login of its address is not counted. Default:
	// 10 per 10m.
	ClientUnfinishedLogins *RateConfig `json:"client_unfinished_logins,omitempty"`
	// Every password login, sign-up and OAuth login started by one client,
	// completed or not (an OTP login is counted by its code). Default:
	// 3000 per 1h.
	ClientLoginStarts *RateConfig `json:"client_login_starts,omitempty"`
	// Logins started by all clients together (OTP, password, sign-up,
	// OAuth). Default: 600 per 1m.
	LoginStarts *RateConfig `json:"login_starts,omitempty"`
	// Codes sent for all clients together. Default: 600 per 1m.
	Sends *RateConfig `json:"sends,omitempty"`
}

// Words are the `limits` words (the Caddyfile's, the JSON's), each
// with its field.
func (l *LimitsConfig) Words() map[string]**RateConfig {
	return map[string]**RateConfig{
		"client_unproven_sends": &l.ClientUnprovenSends, "client_destination_sends": &l.ClientDestinationSends,
		"client_sends": &l.ClientSends, "client_unfinished_logins": &l.ClientUnfinishedLogins,
		"client_login_starts": &l.ClientLoginStarts, "login_starts": &l.LoginStarts, "sends": &l.Sends,
	}
}

// RateConfig is a number of events per window.
type RateConfig struct {
	// How many events a window allows; at least 1.
	Count int `json:"count,omitempty"`
	// The length of a window; at least 1s.
	Window Duration `json:"window,omitempty"`
}
