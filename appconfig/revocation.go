package appconfig

import (
	"fmt"
	"time"

	"github.com/caddy-stepup/caddy-stepup/revocation"
)

// RevocationConfig tunes the revocation list that every stepup handler
// checks (README: Revocation). The list lives in the store: with Redis,
// every instance sharing it refuses a revoked token within a second.
type RevocationConfig struct {
	// How often each instance reads the shared list even when no wake-up
	// came. Revocations reach the other instances at once by Redis
	// pub/sub; the poll bounds how late one whose message was lost is
	// seen. 10ms to 1m. Default: 1s.
	PollInterval Duration `json:"poll_interval,omitempty"`

	// How long an instance may go without reading the list (Redis down or
	// out of reach) before it refuses every access token with 503: it
	// cannot know what was revoked meanwhile. At least twice
	// poll_interval, at most 1h. Default: 10s.
	MaxStaleness Duration `json:"max_staleness,omitempty"`

	// The most entries an instance holds before it refuses to record a new
	// revocation (503); entries recorded elsewhere are always taken. An
	// entry costs about 300 bytes of memory on every instance. Default:
	// 1000000.
	MaxEntries int `json:"max_entries,omitempty"`
}

// Defaults and bounds of the revocation words.
const (
	DefaultMaxTokenLifetime = 24 * time.Hour
	minPollInterval         = 10 * time.Millisecond
	maxPollInterval         = time.Minute
	maxMaxStaleness         = time.Hour
)

// setRevocationDefaults fills in the revocation block and each trusted
// issuer's max_token_lifetime.
func (c *Config) setRevocationDefaults() {
	if c.Revocation == nil {
		c.Revocation = new(RevocationConfig)
	}
	r := c.Revocation
	if r.PollInterval == 0 {
		r.PollInterval = Duration(revocation.DefaultPollInterval)
	}
	if r.MaxStaleness == 0 {
		r.MaxStaleness = Duration(max(revocation.DefaultMaxStaleness, 2*time.Duration(r.PollInterval)))
	}
	if r.MaxEntries == 0 {
		r.MaxEntries = revocation.DefaultMaxEntries
	}
	for _, t := range c.Trust {
		if t != nil && t.MaxTokenLifetime == 0 {
			t.MaxTokenLifetime = Duration(DefaultMaxTokenLifetime)
		}
	}
}

// validateRevocation checks the revocation block and the trusted issuers'
// max_token_lifetime.
func (c *Config) validateRevocation() error {
	if r := c.Revocation; r != nil {
		poll, stale := time.Duration(r.PollInterval), time.Duration(r.MaxStaleness)
		switch {
		case poll < minPollInterval || poll > maxPollInterval:
			return fmt.Errorf("revocation: poll_interval must be between %s and %s", minPollInterval, maxPollInterval)
		case stale < 2*poll || stale > maxMaxStaleness:
			return fmt.Errorf("revocation: max_staleness must be at least twice poll_interval and at most %s", maxMaxStaleness)
		case r.MaxEntries < 1:
			return fmt.Errorf("revocation: max_entries must be positive")
		}
	}
	leeway := c.EngineConfig().WithDefaults().Leeway // as the root's revocationIssuers adds it
	for _, t := range c.Trust {
		if t == nil {
			continue
		}
		if d := time.Duration(t.MaxTokenLifetime); d < time.Second || d+leeway > revocation.MaxDuration {
			return fmt.Errorf("trust %s: max_token_lifetime must be between 1s and %s", t.Issuer, revocation.MaxDuration-leeway)
		}
	}
	return nil
}
