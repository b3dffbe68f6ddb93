package appconfig

import (
	"testing"
	"time"
)

// TestSignalsValidate: a stepup_signals config needs a transmitter with
// an issuer, an https key set and an audience, asymmetric algorithms,
// bounded times, and configuration_url with stream_id (and
// stream_authorization only with them); each issuer once.
func TestSignalsValidate(t *testing.T) {
	good := Transmitter{Issuer: "https://idp.example.com/", JWKSURL: "https://idp.example.com/jwks.json", Audience: []string{"a"}}
	with := func(edit func(*SignalsConfig)) *SignalsConfig {
		c := &SignalsConfig{Transmitters: []Transmitter{good}}
		edit(c)
		return c
	}
	if err := with(func(*SignalsConfig) {}).Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*SignalsConfig{
		"no transmitter":     {},
		"no issuer":          with(func(c *SignalsConfig) { c.Transmitters[0].Issuer = "" }),
		"no jwks_url":        with(func(c *SignalsConfig) { c.Transmitters[0].JWKSURL = "" }),
		"jwks_url over http": with(func(c *SignalsConfig) { c.Transmitters[0].JWKSURL = "http://idp.example.com/jwks.json" }),
		"jwks_url relative":  with(func(c *SignalsConfig) { c.Transmitters[0].JWKSURL = "/jwks.json" }),
		"no audience":        with(func(c *SignalsConfig) { c.Transmitters[0].Audience = nil }),
		"empty audience":     with(func(c *SignalsConfig) { c.Transmitters[0].Audience = []string{""} }),
		"HS256":              with(func(c *SignalsConfig) { c.Transmitters[0].Algorithms = []string{"HS256"} }),
		"none":               with(func(c *SignalsConfig) { c.Transmitters[0].Algorithms = []string{"none"} }),
		"twice":              with(func(c *SignalsConfig) { c.Transmitters = append(c.Transmitters, good) }),
		"max_age over 24h":   with(func(c *SignalsConfig) { c.MaxAge = Duration(25 * time.Hour) }),
		"negative max_age":   with(func(c *SignalsConfig) { c.MaxAge = -1 }),
		"leeway over 60s":    with(func(c *SignalsConfig) { c.Leeway = Duration(61 * time.Second) }),
		"poll_url over http": with(func(c *SignalsConfig) { c.Transmitters[0].PollURL = "http://idp.example.com/poll" }),
		"poll_interval 1ms":  with(func(c *SignalsConfig) { c.Transmitters[0].PollInterval = Duration(time.Millisecond) }),
		"configuration_url without stream_id": with(func(c *SignalsConfig) {
			c.Transmitters[0].ConfigurationURL = "https://idp.example.com/.well-known/ssf-configuration"
		}),
		"configuration_url over http": with(func(c *SignalsConfig) {
			c.Transmitters[0].ConfigurationURL, c.Transmitters[0].StreamID = "http://idp.example.com/.well-known/ssf-configuration", "s"
		}),
		"stream_authorization alone": with(func(c *SignalsConfig) { c.Transmitters[0].StreamAuthorization = "Bearer x" }),
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	polled := with(func(c *SignalsConfig) {
		c.Transmitters[0].PollURL, c.Transmitters[0].PollInterval = "http://127.0.0.1:9/poll", Duration(time.Second)
		c.Transmitters[0].ConfigurationURL, c.Transmitters[0].StreamID = "https://idp.example.com/.well-known/ssf-configuration", "s"
		c.Transmitters[0].StreamAuthorization = "Bearer x"
	})
	if err := polled.Validate(); err != nil {
		t.Errorf("poll on loopback, a stream API: %v", err)
	}
}

// TestPollEvery: a transmitter is polled every poll_interval, 10s when
// it is unset.
func TestPollEvery(t *testing.T) {
	var tr Transmitter
	if d := tr.PollEvery(); d != 10*time.Second {
		t.Errorf("unset: %v", d)
	}
	tr.PollInterval = Duration(3 * time.Second)
	if d := tr.PollEvery(); d != 3*time.Second {
		t.Errorf("3s: %v", d)
	}
}
