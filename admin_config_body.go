package caddystepup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// The management calls' bodies are read by adminapi (ReadStepUp,
// ReadScope, ReadPasskey: exact names, no braces); here they become the
// app's scope blocks and custom steps, checked against the running app.

// postedStepUp is a checked body of POST .../config/stepup.
type postedStepUp struct {
	scopes  map[string]*appconfig.Scope // the app's scope blocks
	keys    []string                    // custom_steps keys; none: custom_steps is left as it is
	jwksURL string                      // custom_steps jwks_url, with keys
	doc     json.RawMessage             // the body, compacted, as GET reads it back
}

// badRequest is a refusal of a posted body; its message quotes only what
// was posted.
var badRequest = adminapi.BadRequest

// parsePostedStepUp reads and checks the body of POST .../config/stepup.
func parsePostedStepUp(body []byte) (*postedStepUp, error) {
	cfg, err := adminapi.ReadStepUp(body)
	if err != nil {
		return nil, err
	}
	p := &postedStepUp{jwksURL: cfg.JWKSURL, scopes: map[string]*appconfig.Scope{}}
	for _, k := range cfg.StepKeys {
		p.keys = append(p.keys, k.Key)
	}
	if len(p.keys) > 0 {
		if err := urlcheck.HTTPSOrLoopback(cfg.JWKSURL); err != nil {
			return nil, badRequest("jwks_url: %v", err)
		}
	}
	if _, err := stepup.NewStepRegistry(p.keys, false); err != nil { // names only: a custom key never takes a built-in one's
		return nil, badRequest("step_keys: %v", err)
	}
	for i, s := range cfg.AllowedScopes {
		if _, dup := p.scopes[s.Scope]; dup {
			continue // Prelude: the first matching entry wins
		}
		block, err := scopeBlock(&s)
		if err == nil {
			// Steps are checked against the custom steps in checkPosted.
			err = stepup.ValidateScope(s.Scope, block.Policy())
		}
		if err != nil {
			return nil, badRequest("allowed_scopes[%d] (%q): %v", i, s.Scope, err)
		}
		p.scopes[s.Scope] = block
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, body) // ReadStepUp parsed it
	p.doc = compact.Bytes()
	return p, nil
}

// scopeBlock is the scope block an allowed_scopes entry becomes.
func scopeBlock(s *adminapi.ScopeEntry) (*appconfig.Scope, error) {
	switch s.Mode {
	case "delegated":
		if s.Delegated == nil {
			return nil, errors.New("mode delegated needs delegated.delegation_hook")
		}
		return &appconfig.Scope{Delegated: s.Delegated.DelegationHook}, nil
	case "direct":
		if s.Direct == nil {
			return nil, errors.New("mode direct needs direct.steps")
		}
		if g := s.Direct.GrantedFor; g < 0 || g > adminapi.MaxPostedSeconds {
			return nil, fmt.Errorf("granted_for must be at most %d seconds", adminapi.MaxPostedSeconds)
		}
		d := &appconfig.DirectScope{GrantedFor: secondsDuration(s.Direct.GrantedFor), GrantMode: s.Direct.GrantMode}
		for _, st := range s.Direct.Steps {
			if e := st.ExpirationDuration; e < 0 || e > adminapi.MaxPostedSeconds {
				return nil, fmt.Errorf("step %q: expiration_duration must be at most %d seconds", st.Key, adminapi.MaxPostedSeconds)
			}
			d.Steps = append(d.Steps, appconfig.DirectStep{Key: st.Key, Expiration: secondsDuration(st.ExpirationDuration)})
		}
		return &appconfig.Scope{Direct: d}, nil
	case "block":
		return &appconfig.Scope{Block: true}, nil
	}
	return nil, fmt.Errorf("mode %q is not one of delegated, direct, block", s.Mode)
}

// checkPosted checks posted scope blocks and custom steps against the
// running app, as its Validate would check the config they make: the
// steps exist, the acr rules hold, the app can mint the tokens. The
// values checked that were not posted already passed when the running
// config loaded, so a refusal is about what was posted.
func (a *App) checkPosted(p *postedStepUp) error {
	candidate := &App{Config: appconfig.Config{Issuer: a.Issuer, LoginACR: a.LoginACR, PossessionACR: a.PossessionACR, Login: a.Login,
		CustomSteps: a.CustomSteps, Scopes: p.scopes, Passkey: a.Passkey}}
	if len(p.keys) > 0 {
		cs := appconfig.CustomStepsConfig{Algorithms: []string{"RS256"}}
		if a.CustomSteps != nil {
			cs = *a.CustomSteps
		}
		cs.JWKSURL, cs.Keys = p.jwksURL, p.keys
		candidate.CustomSteps = &cs
	}
	if err := candidate.ValidateEngine(); err != nil {
		return badRequest("%v", err)
	}
	return nil
}
