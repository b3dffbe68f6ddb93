package appconfig

import (
	"slices"

	"github.com/caddy-stepup/caddy-stepup/enforce"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// ScopeCatalogue is what the scope blocks tell a route: every scope with
// a block can be stepped up; those not blocked can be granted, with the
// acr values their step-up may set. loginACR is the login's acr with the
// engine's default applied.
func (c *Config) ScopeCatalogue(loginACR string) enforce.Catalogue {
	cat := make(enforce.Catalogue, len(c.Scopes))
	for name, s := range c.Scopes {
		cat[name] = enforce.ScopeEntry{Grantable: s != nil && !s.Block, ACR: c.earnedACR(s, loginACR)}
	}
	return cat
}

// earnedACR are the acr values a step-up of s may set: its block's acr,
// else, when its direct steps include verify_passkey, the passkey's acr
// values (and the login's when the passkey block names no acr of its
// own), else the login's.
func (c *Config) earnedACR(s *Scope, loginACR string) []string {
	if s == nil {
		return nil
	}
	if s.ACR != "" {
		return []string{s.ACR}
	}
	var earned []string
	if p := c.Passkey; p != nil && s.Direct != nil &&
		slices.ContainsFunc(s.Direct.Steps, func(st DirectStep) bool { return st.Key == stepup.StepVerifyPasskey }) {
		for _, v := range []string{p.HardwareACR, p.ACR} {
			if v != "" {
				earned = append(earned, v)
			}
		}
		if p.ACR != "" {
			return earned // a passkey step-up earns the passkey's acr, not the login's
		}
	}
	if loginACR != "" {
		earned = append(earned, loginACR)
	}
	return earned
}
