package caddystepup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/internal/urlcheck"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// The bodies of Prelude's management calls, read and checked before
// anything is changed. A posted value lands in apps.stepup, whose Provision
// resolves placeholders in some fields (a hook URL, a JWKS URL): a posted
// `{env.NAME}` or `{file./path}` would then be read by the gateway and
// sent to the host the caller named, or quoted in an error. So no posted
// string may hold `{` or `}` (raw, JSON-escaped or backslashed alike):
// nothing posted can ever be a placeholder, and what Caddy stores is
// exactly what was posted. A URL needs no braces (RFC 3986 §2.2 leaves
// them out; `%7B` is a brace in a URL, and stays literal); keys and scope
// names never hold them.

// preludeStepUpConfig is the body of POST .../config/stepup.
type preludeStepUpConfig struct {
	JWKSURL  string `json:"jwks_url"`
	StepKeys []struct {
		Key         string `json:"key"`
		Description string `json:"description"`
	} `json:"step_keys"`
	AllowedScopes []preludeScope `json:"allowed_scopes"`
}

type preludeScope struct {
	Scope     string `json:"scope"`
	Mode      string `json:"mode"`
	Delegated *struct {
		DelegationHook string `json:"delegation_hook"`
	} `json:"delegated,omitempty"`
	Direct *struct {
		IdentifierTypes []string `json:"identifier_types"`
		GrantedFor      int      `json:"granted_for"`
		GrantMode       string   `json:"grant_mode"`
		Steps           []struct {
			Order              int    `json:"order"`
			Key                string `json:"key"`
			ExpirationDuration int    `json:"expiration_duration"`
		} `json:"steps"`
	} `json:"direct,omitempty"`
}

// postedNames are the member names of Prelude's bodies, exactly as
// written: encoding/json would also take `JWKS_URL` for `jwks_url`.
var postedNames = map[string]bool{
	"jwks_url": true, "step_keys": true, "key": true, "description": true, "allowed_scopes": true, "scope": true,
	"mode": true, "delegated": true, "delegation_hook": true, "direct": true, "identifier_types": true,
	"granted_for": true, "grant_mode": true, "steps": true, "order": true, "expiration_duration": true,
}

// maxPostedSeconds bounds posted durations (granted_for,
// expiration_duration) before they become a time.Duration.
const maxPostedSeconds = 24 * 60 * 60

// postedStepUp is a checked body of POST .../config/stepup.
type postedStepUp struct {
	scopes  map[string]*Scope // the app's scope blocks
	keys    []string          // custom_steps keys; none: custom_steps is left as it is
	jwksURL string            // custom_steps jwks_url, with keys
	doc     json.RawMessage   // the body, compacted, as GET reads it back
}

// badRequest is a refusal of a posted body; its message quotes only what
// was posted.
func badRequest(format string, args ...any) *adminapi.Error {
	return &adminapi.Error{Kind: apierror.BadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

// parsePostedStepUp reads and checks the body of POST .../config/stepup.
func parsePostedStepUp(body []byte) (*postedStepUp, error) {
	var cfg preludeStepUpConfig
	if err := decodePosted(body, &cfg); err != nil {
		return nil, err
	}
	p := &postedStepUp{jwksURL: cfg.JWKSURL, scopes: map[string]*Scope{}}
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
		block, err := s.block()
		if err == nil {
			// Steps are checked against the custom steps in checkPosted.
			err = stepup.ValidateScope(s.Scope, scopePolicy(block))
		}
		if err != nil {
			return nil, badRequest("allowed_scopes[%d] (%q): %v", i, s.Scope, err)
		}
		p.scopes[s.Scope] = block
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, body) // decodePosted parsed it
	p.doc = compact.Bytes()
	return p, nil
}

// block is the scope block an allowed_scopes entry becomes.
func (s *preludeScope) block() (*Scope, error) {
	switch s.Mode {
	case "delegated":
		if s.Delegated == nil {
			return nil, errors.New("mode delegated needs delegated.delegation_hook")
		}
		return &Scope{Delegated: s.Delegated.DelegationHook}, nil
	case "direct":
		if s.Direct == nil {
			return nil, errors.New("mode direct needs direct.steps")
		}
		if g := s.Direct.GrantedFor; g < 0 || g > maxPostedSeconds {
			return nil, fmt.Errorf("granted_for must be at most %d seconds", maxPostedSeconds)
		}
		d := &DirectScope{GrantedFor: secondsDuration(s.Direct.GrantedFor), GrantMode: s.Direct.GrantMode}
		for _, st := range s.Direct.Steps {
			if e := st.ExpirationDuration; e < 0 || e > maxPostedSeconds {
				return nil, fmt.Errorf("step %q: expiration_duration must be at most %d seconds", st.Key, maxPostedSeconds)
			}
			d.Steps = append(d.Steps, DirectStep{Key: st.Key, Expiration: secondsDuration(st.ExpirationDuration)})
		}
		return &Scope{Direct: d}, nil
	case "block":
		return &Scope{Block: true}, nil
	}
	return nil, fmt.Errorf("mode %q is not one of delegated, direct, block", s.Mode)
}

// parsePostedScope reads and checks the body of POST .../config/scopes.
func parsePostedScope(body []byte) (string, error) {
	var req struct {
		Scope string `json:"scope"`
	}
	if err := decodePosted(body, &req); err != nil {
		return "", err
	}
	if !stepup.ValidKey(req.Scope) {
		return "", badRequest(`scope: %s is not made of letters, digits and . _ : - (1 to 128)`, quotePosted(req.Scope))
	}
	return req.Scope, nil
}

// decodePosted reads one posted JSON object into v: read alike by every
// parser (strictjson: no duplicate or case-folded names, valid UTF-8),
// with Prelude's member names only, and no string holding a brace or a
// control character.
func decodePosted(body []byte, v any) error {
	return decodePostedNames(body, v, postedNames)
}

// decodePostedNames is decodePosted for a body whose member names are
// names.
func decodePostedNames(body []byte, v any, names map[string]bool) error {
	if _, err := strictjson.ParseObject(body); err != nil {
		return badRequest("The body is not one JSON object read alike by every parser (%v).", strings.TrimPrefix(err.Error(), "strictjson: "))
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return badRequest("The body is not JSON.")
	}
	if err := checkPostedValue("", doc, names); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("The body does not have the call's shape: %s.", postedShapeError(err))
	}
	return nil
}

// checkPostedValue walks a posted document: every member name one of
// names, no string with a brace or a control character.
func checkPostedValue(path string, v any, names map[string]bool) error {
	switch v := v.(type) {
	case map[string]any:
		members := make([]string, 0, len(v))
		for name := range v {
			members = append(members, name)
		}
		sort.Strings(members) // the first refusal is the same every time
		for _, name := range members {
			at := strings.TrimPrefix(path+"."+name, ".")
			if !names[name] {
				return badRequest("%s: unknown member", quotePosted(at))
			}
			if err := checkPostedValue(at, v[name], names); err != nil {
				return err
			}
		}
	case []any:
		for i, item := range v {
			if err := checkPostedValue(fmt.Sprintf("%s[%d]", path, i), item, names); err != nil {
				return err
			}
		}
	case string:
		if strings.ContainsAny(v, "{}") {
			return badRequest("%s: %s holds { or }, which no posted value may (placeholders are not accepted here).", path, quotePosted(v))
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return badRequest("%s: %s holds a control character.", path, quotePosted(v))
		}
	}
	return nil
}

// postedShapeError describes a decoding error by the posted member it is
// about, never by Go's types.
func postedShapeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("%s is not a %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	}
	return "not the expected members and types"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64":
		return "whole number"
	case "slice":
		return "list"
	case "struct", "ptr", "map":
		return "object"
	}
	return "value of the expected type"
}

// quotePosted quotes a posted string for an error, cut at 200 bytes.
func quotePosted(s string) string {
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// checkPosted checks posted scope blocks and custom steps against the
// running app, as its Validate would check the config they make: the
// steps exist, the acr rules hold, the app can mint the tokens. The
// values checked that were not posted already passed when the running
// config loaded, so a refusal is about what was posted.
func (a *App) checkPosted(p *postedStepUp) error {
	candidate := &App{Issuer: a.Issuer, LoginACR: a.LoginACR, PossessionACR: a.PossessionACR, Login: a.Login,
		CustomSteps: a.CustomSteps, Scopes: p.scopes, Passkey: a.Passkey}
	if len(p.keys) > 0 {
		cs := CustomStepsConfig{Algorithms: []string{"RS256"}}
		if a.CustomSteps != nil {
			cs = *a.CustomSteps
		}
		cs.JWKSURL, cs.Keys = p.jwksURL, p.keys
		candidate.CustomSteps = &cs
	}
	if err := candidate.validateEngine(); err != nil {
		return badRequest("%v", err)
	}
	return nil
}
