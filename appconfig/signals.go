package appconfig

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/signals"
)

// SignalsConfig is the config of a `stepup_signals` handler (the Shared
// Signals receiver; its doc is the root's SignalsHandler): the
// transmitters it accepts SETs from and the bounds of their times.
type SignalsConfig struct {
	// Transmitters whose SETs this endpoint accepts. At least one.
	Transmitters []Transmitter `json:"transmitters,omitempty"`

	// How old a SET's iat may be; its jti is remembered that long. Default:
	// 1h, at most 24h.
	MaxAge Duration `json:"max_age,omitempty"`

	// How far ahead of this instance's clock a SET's iat may be. Default:
	// 30s, at most 60s.
	Leeway Duration `json:"leeway,omitempty"`
}

// Transmitter is one SSF transmitter of a stepup_signals handler.
type Transmitter struct {
	// The transmitter's issuer: the SETs' iss, compared exactly. Required.
	Issuer string `json:"issuer,omitempty"`

	// Where its signing keys are published (its ssf-configuration's
	// jwks_uri). Required: https, or http on a loopback address.
	JWKSURL string `json:"jwks_url,omitempty"`

	// What its SETs' aud names this receiver by: one of these must be in
	// aud. Required.
	Audience []string `json:"audience,omitempty"`

	// The algorithms it signs with. Default: RS256 ES256. Asymmetric only.
	Algorithms []string `json:"algorithms,omitempty"`

	// The Authorization header value it sends with every push (the stream's
	// authorization_header, SSF 1.0 §6.1.1), e.g. `Bearer {env.SSF_TOKEN}`;
	// a push without it is refused with authentication_failed. Resolved at
	// Provision. Default: none (the signature alone vouches for a SET).
	Authorization string `json:"authorization,omitempty"`

	// The stream its verification and stream-updated events must name.
	// Default: any.
	StreamID string `json:"stream_id,omitempty"`

	// Poll delivery (RFC 8936): the transmitter's poll endpoint (the
	// stream's endpoint_url for urn:ietf:rfc:8936). Every instance polls
	// it; a SET is acted on once, and acknowledged in the next poll.
	// https, or http on a loopback address. Default: none (push only).
	PollURL string `json:"poll_url,omitempty"`

	// The Authorization header value each poll carries (the receiver's
	// credential at the transmitter), e.g. `Bearer {env.SSF_POLL_TOKEN}`.
	// Resolved at Provision. Default: none.
	PollAuthorization string `json:"poll_authorization,omitempty"`

	// How long to wait between polls that brought nothing more. Default:
	// 10s, at least 1s.
	PollInterval Duration `json:"poll_interval,omitempty"`

	// Where its configuration metadata is (SSF 1.0 §7.2: its
	// /.well-known/ssf-configuration), for its stream management API: the
	// admin routes POST /stepup/signals/{issuer}/verify and GET
	// .../stream use its verification_endpoint and status_endpoint. Read
	// at the first call, and again after a call that failed; its issuer
	// must be Issuer exactly. https, or http on a loopback address; needs
	// stream_id. Default: none (the admin routes answer 409).
	ConfigurationURL string `json:"configuration_url,omitempty"`

	// The Authorization header value the receiver presents to the
	// transmitter's stream management API, e.g. `Bearer
	// {env.SSF_STREAM_TOKEN}` or `Bearer {file./run/secrets/ssf}`.
	// Resolved at Provision; never logged, never in an answer. Default:
	// none.
	StreamAuthorization string `json:"stream_authorization,omitempty"`

	// Other issuers whose users, sessions and tokens its iss_sub and jwt_id
	// subjects may name; its own issuer always counts. List the gateway's
	// own `issuer` when the transmitter knows the gateway's user and
	// session IDs. Default: none.
	SubjectIssuers []string `json:"subject_issuers,omitempty"`
}

// DefaultPollInterval is Transmitter.PollInterval's default.
const DefaultPollInterval = 10 * time.Second

// PollEvery is how long to wait between polls that brought nothing more:
// poll_interval, or its default.
func (t *Transmitter) PollEvery() time.Duration {
	if t.PollInterval == 0 {
		return DefaultPollInterval
	}
	return time.Duration(t.PollInterval)
}

// Validate checks every transmitter and the bounds. It changes nothing;
// that each authorization resolves is the Caddy shell's check.
func (c *SignalsConfig) Validate() error {
	if len(c.Transmitters) == 0 {
		return errors.New("stepup_signals: at least one transmitter is required")
	}
	if c.MaxAge < 0 || time.Duration(c.MaxAge) > signals.MaxMaxAge {
		return fmt.Errorf("stepup_signals: max_age must be between 0 and %s", signals.MaxMaxAge)
	}
	if c.Leeway < 0 || time.Duration(c.Leeway) > signals.MaxLeeway {
		return fmt.Errorf("stepup_signals: leeway must be between 0 and %s", signals.MaxLeeway)
	}
	seen := map[string]bool{}
	for i, t := range c.Transmitters {
		if err := t.validate(); err != nil {
			return fmt.Errorf("stepup_signals: transmitter %d (%q): %v", i, t.Issuer, err)
		}
		if seen[t.Issuer] {
			return fmt.Errorf("stepup_signals: transmitter %q listed twice", t.Issuer)
		}
		seen[t.Issuer] = true
	}
	return nil
}

func (t *Transmitter) validate() error {
	if t.Issuer == "" {
		return errors.New("issuer is required")
	}
	if t.JWKSURL == "" {
		return errors.New("jwks_url is required")
	}
	if err := urlcheck.HTTPSOrLoopback(t.JWKSURL); err != nil {
		return fmt.Errorf("jwks_url: %v", err)
	}
	if len(t.Audience) == 0 {
		return errors.New("audience is required")
	}
	for _, a := range t.Audience {
		if a == "" {
			return errors.New("an empty audience")
		}
	}
	for _, alg := range t.Algorithms {
		if !jose.Supported(alg) {
			return fmt.Errorf("algorithm %q not allowed (asymmetric signature algorithms only)", alg)
		}
	}
	if t.PollURL != "" {
		if err := urlcheck.HTTPSOrLoopback(t.PollURL); err != nil {
			return fmt.Errorf("poll_url: %v", err)
		}
	}
	if t.PollInterval != 0 && time.Duration(t.PollInterval) < time.Second {
		return errors.New("poll_interval must be at least 1s")
	}
	return t.validateStreamWords()
}

// validateStreamWords checks configuration_url, stream_id and
// stream_authorization together.
func (t *Transmitter) validateStreamWords() error {
	switch {
	case t.ConfigurationURL == "" && t.StreamAuthorization != "":
		return fmt.Errorf("stream_authorization needs configuration_url")
	case t.ConfigurationURL == "":
		return nil
	case t.StreamID == "":
		return fmt.Errorf("configuration_url needs stream_id (the stream the receiver manages)")
	}
	if err := urlcheck.HTTPSOrLoopback(t.ConfigurationURL); err != nil {
		return fmt.Errorf("configuration_url: %v", err)
	}
	return nil
}
