package appconfig

// OTPConfig sets how one-time codes are made and delivered.
type OTPConfig struct {
	// How codes reach users. Required for OTP login and OTP steps.
	Sender *SenderConfig `json:"sender,omitempty"`

	// Digits per code, 6 to 8. Default: 6.
	Digits int `json:"digits,omitempty"`

	// How long a code works. Default: 5m; at most 10m.
	TTL Duration `json:"ttl,omitempty"`

	// Wrong codes allowed per code. Default: 5.
	MaxAttempts int `json:"max_attempts,omitempty"`

	// Minimum time between two sends for one login or step. Default: 30s.
	ResendCooldown Duration `json:"resend_cooldown,omitempty"`

	// Resends allowed per login or step. Default: 3.
	MaxResends int `json:"max_resends,omitempty"`

	// Codes sent to one destination per hour, at most. Default: 10.
	MaxPerHour int `json:"max_per_hour,omitempty"`
}

// SenderConfig is one way to deliver codes.
type SenderConfig struct {
	// `log` (development only: writes each code to Caddy's log),
	// `webhook` (a signed JSON POST to your backend, which sends the SMS or
	// email) or `smtp` (email over SMTP).
	Kind string `json:"kind,omitempty"`

	// webhook: the URL that receives
	// {"channel","to","code","purpose","expires_at","challenge_id","scope"},
	// signed with the gateway's key (X-Webhook-Signature, verifiable with its
	// JWKS).
	URL string `json:"url,omitempty"`

	// webhook: an optional shared secret; adds an HMAC signature header
	// (X-Stepup-Signature). Accepts {env.*}.
	Secret string `json:"secret,omitempty"`

	// webhook and smtp: time allowed per delivery attempt. Default: 5s.
	Timeout Duration `json:"timeout,omitempty"`

	// smtp: the server's host:port.
	Addr string `json:"addr,omitempty"`
	// smtp: the From address.
	From string `json:"from,omitempty"`
	// smtp: AUTH PLAIN credentials (accept {env.*}).
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// smtp: `starttls` (default), `tls` (implicit TLS) or `none` (loopback
	// relays only).
	TLS string `json:"tls,omitempty"`
	// smtp: the Subject line. Default: "Your verification code".
	Subject string `json:"subject,omitempty"`
}
