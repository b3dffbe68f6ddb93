package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
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

// StepUpBody is the body of POST .../config/stepup.
type StepUpBody struct {
	JWKSURL  string `json:"jwks_url"`
	StepKeys []struct {
		Key         string `json:"key"`
		Description string `json:"description"`
	} `json:"step_keys"`
	AllowedScopes []ScopeEntry `json:"allowed_scopes"`
}

// ScopeEntry is one of its allowed_scopes.
type ScopeEntry struct {
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

// stepUpNames are the member names of the step-up bodies, exactly as
// written: encoding/json would also take `JWKS_URL` for `jwks_url`.
var stepUpNames = map[string]bool{
	"jwks_url": true, "step_keys": true, "key": true, "description": true, "allowed_scopes": true, "scope": true,
	"mode": true, "delegated": true, "delegation_hook": true, "direct": true, "identifier_types": true,
	"granted_for": true, "grant_mode": true, "steps": true, "order": true, "expiration_duration": true,
}

// MaxPostedSeconds bounds posted durations (granted_for,
// expiration_duration) before they become a time.Duration.
const MaxPostedSeconds = 24 * 60 * 60

// PasskeyBody is the body of PUT .../config/passkey.
type PasskeyBody struct {
	RPID                  string   `json:"rp_id"`
	RPName                string   `json:"rp_name"`
	AllowedOrigins        []string `json:"allowed_origins"`
	UserVerification      string   `json:"user_verification"`
	AttestationPreference string   `json:"attestation_preference"`
	LoginEnabled          bool     `json:"login_enabled"`
	GrantedScopes         []string `json:"granted_scopes"`
	AAGUIDAllowlist       []string `json:"aaguid_allowlist"`
}

// PasskeyNames are its member names, exactly as written: the members of
// the passkey block a PUT replaces.
var PasskeyNames = map[string]bool{
	"rp_id": true, "rp_name": true, "allowed_origins": true, "user_verification": true,
	"attestation_preference": true, "login_enabled": true, "granted_scopes": true, "aaguid_allowlist": true,
}

// ReadStepUp reads the body of POST .../config/stepup; its values are the
// caller's to check against the running config.
func ReadStepUp(body []byte) (*StepUpBody, error) {
	var b StepUpBody
	if err := decodeBody(body, &b, stepUpNames); err != nil {
		return nil, err
	}
	return &b, nil
}

// ReadScope reads the body of POST .../config/scopes: the scope's name.
func ReadScope(body []byte) (string, error) {
	var req struct {
		Scope string `json:"scope"`
	}
	if err := decodeBody(body, &req, stepUpNames); err != nil {
		return "", err
	}
	if !stepup.ValidKey(req.Scope) {
		return "", BadRequest(`scope: %s is not made of letters, digits and . _ : - (1 to 128)`, Quote(req.Scope))
	}
	return req.Scope, nil
}

// ReadPasskey reads the body of PUT .../config/passkey: rp_id, rp_name and
// allowed_origins are required, as Prelude requires them, and no scope is
// granted by a passkey login here.
func ReadPasskey(body []byte) (*PasskeyBody, error) {
	var b PasskeyBody
	if err := decodeBody(body, &b, PasskeyNames); err != nil {
		return nil, err
	}
	if b.RPID == "" || b.RPName == "" || len(b.AllowedOrigins) == 0 {
		return nil, BadRequest("rp_id, rp_name and allowed_origins are required.")
	}
	if len(b.GrantedScopes) > 0 {
		return nil, BadRequest("granted_scopes: sessions opened by a passkey login hold no scope here; a scope is granted by a step-up (leave it out or empty).")
	}
	return &b, nil
}

// BadRequest is a refusal of a posted body; its message quotes only what
// was posted.
func BadRequest(format string, args ...any) *Error {
	return &Error{Kind: apierror.BadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

// decodeBody reads one posted JSON object into v: read alike by every
// parser (strictjson: no duplicate or case-folded names, valid UTF-8),
// with member names from names only, and no string holding a brace or a
// control character.
func decodeBody(body []byte, v any, names map[string]bool) error {
	if _, err := strictjson.ParseObject(body); err != nil {
		return BadRequest("The body is not one JSON object read alike by every parser (%v).", strings.TrimPrefix(err.Error(), "strictjson: "))
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return BadRequest("The body is not JSON.")
	}
	if err := checkPostedValue("", doc, names); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest("The body does not have the call's shape: %s.", shapeError(err))
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
				return BadRequest("%s: unknown member", Quote(at))
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
			return BadRequest("%s: %s holds { or }, which no posted value may (placeholders are not accepted here).", path, Quote(v))
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return BadRequest("%s: %s holds a control character.", path, Quote(v))
		}
	}
	return nil
}

// shapeError describes a decoding error by the posted member it is
// about, never by Go's types.
func shapeError(err error) string {
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

// Quote quotes a posted string for an error, cut at 200 bytes.
func Quote(s string) string {
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return fmt.Sprintf("%q", s)
}
