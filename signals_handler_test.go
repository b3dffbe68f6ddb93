package caddystepup

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/signals"
)

func TestSignalsCaddyfile(t *testing.T) {
	for _, bad := range []string{
		`stepup_signals extra`,
		"stepup_signals {\n transmitter\n}",
		`stepup_signals { transmitter a b }`,
		`stepup_signals { transmitter a { jwks_url } }`,
		`stepup_signals { transmitter a { jwks_url x y } }`,
		`stepup_signals { transmitter a { jwks_url x
			jwks_url y } }`,
		"stepup_signals {\n transmitter a {\n audience\n }\n}",
		"stepup_signals {\n transmitter a {\n authorization\n }\n}",
		`stepup_signals { transmitter a { nope 1 } }`,
		`stepup_signals { max_age }`,
		`stepup_signals { max_age soon }`,
		`stepup_signals { max_age 1h
			max_age 2h }`,
		`stepup_signals { nope }`,
		"stepup_signals {\n transmitter a {\n stream_authorization\n }\n}",
		"stepup_signals {\n transmitter a {\n configuration_url a b\n }\n}",
		"stepup_signals {\n transmitter a {\n configuration_url a\n configuration_url a\n }\n}",
	} {
		var h SignalsHandler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	var h SignalsHandler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`stepup_signals {
		transmitter https://idp.example.com/ {
			jwks_url https://idp.example.com/jwks.json
			audience a b
			audience c
			authorization Bearer {env.T}
			subject_issuers https://api.example.com
			stream_id st-1
			configuration_url https://idp.example.com/.well-known/ssf-configuration
			stream_authorization Bearer {file./run/secrets/ssf}
		}
		leeway 5s
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tr := h.Transmitters[0]
	if len(h.Transmitters) != 1 || tr.Issuer != "https://idp.example.com/" || strings.Join(tr.Audience, ",") != "a,b,c" ||
		tr.Authorization != "Bearer {env.T}" || tr.SubjectIssuers[0] != "https://api.example.com" || h.Leeway != appconfig.Duration(5e9) ||
		tr.StreamID != "st-1" || tr.ConfigurationURL != "https://idp.example.com/.well-known/ssf-configuration" ||
		tr.StreamAuthorization != "Bearer {file./run/secrets/ssf}" {
		t.Fatalf("%+v", h)
	}
}

// TestSignalsValidate: the handler checks its config's words
// (appconfig's TestSignalsValidate has their rules) and that an
// authorization resolved to something.
func TestSignalsValidate(t *testing.T) {
	good := appconfig.Transmitter{Issuer: "https://idp.example.com/", JWKSURL: "https://idp.example.com/jwks.json", Audience: []string{"a"}}
	with := func(edit func(*SignalsHandler)) *SignalsHandler {
		h := &SignalsHandler{SignalsConfig: appconfig.SignalsConfig{Transmitters: []appconfig.Transmitter{good}}}
		edit(h)
		return h
	}
	if err := with(func(*SignalsHandler) {}).Validate(); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*SignalsHandler{
		"no transmitter":  {},
		"leeway over 60s": with(func(h *SignalsHandler) { h.Leeway = appconfig.Duration(61e9) }),
		"twice":           with(func(h *SignalsHandler) { h.Transmitters = append(h.Transmitters, good) }),
		"authorization to nil": with(func(h *SignalsHandler) {
			h.Transmitters[0].Authorization = "{env.UNSET}"
			h.resolved = []signals.Transmitter{{}}
		}),
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	resolved := with(func(h *SignalsHandler) {
		h.Transmitters[0].Authorization = "Bearer {env.T}"
		h.resolved = []signals.Transmitter{{Authorization: "Bearer t"}}
	})
	if err := resolved.Validate(); err != nil {
		t.Errorf("a resolved authorization: %v", err)
	}
}

// TestRevocationLifetimes: a revocation of the gateway's tokens lasts
// access_token_ttl (its default when unset) plus leeway; a trusted
// issuer's, its max_token_lifetime plus leeway; another issuer has no
// token to refuse.
func TestRevocationLifetimes(t *testing.T) {
	a := &App{Config: appconfig.Config{Issuer: "https://api.example.com", Trust: []*appconfig.Trust{{Issuer: "https://idp.example.com/", JWKSURL: "https://idp.example.com/jwks.json"}}}}
	a.setDefaults()
	if d, ok := a.revocationLifetime("https://api.example.com"); !ok || d != 15*time.Minute+31*time.Second {
		t.Errorf("the gateway's tokens: %v %v", d, ok)
	}
	if d, ok := a.revocationLifetime("https://idp.example.com/"); !ok || d != 24*time.Hour+30*time.Second {
		t.Errorf("a trusted issuer's tokens: %v %v", d, ok)
	}
	for _, iss := range []string{"", "https://other.example", "https://idp.example.com"} {
		if _, ok := a.revocationLifetime(iss); ok {
			t.Errorf("%q has a lifetime", iss)
		}
	}
}
