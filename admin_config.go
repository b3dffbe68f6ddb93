package caddystepup

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddyserver/caddy/v2"
)

// The management calls of Prelude's API, on the admin endpoint:
//
//	POST|GET /stepup/v2/session/apps/{APP_ID}/config/stepup
//	POST|GET /stepup/v2/session/apps/{APP_ID}/config/scopes
//
// with Prelude's bodies, so that the seed's curl commands work with only
// the host changed. A change is applied through Caddy's own config API (a
// POST of the new apps.stepup to this admin endpoint): it shows in GET
// /config/, is autosaved like any admin change, and is validated like any
// config; a refused one changes nothing.

const managementPrefix = "/stepup/v2/session/apps/"

// ManagementConfig is what the management calls keep in the config.
type ManagementConfig struct {
	// Required as `Authorization: Bearer <key>` on the management calls
	// when set; write it as {env.NAME}. Default: none (the admin endpoint
	// is local only).
	Key string `json:"key,omitempty"`

	// The last step-up configuration posted, as posted (GET reads it back).
	StepUp json.RawMessage `json:"stepup,omitempty"`

	// The scopes registered with POST .../config/scopes.
	Scopes []string `json:"scopes,omitempty"`

	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

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

// managementError is a refusal of a management call, in Prelude's shape.
func managementError(w http.ResponseWriter, k apierror.Kind, code, message string) {
	apierror.WriteJSON(w, k.Status(), apierror.Body(k, code, message, nil))
}

func (a *AdminAPI) serveManagement(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, managementPrefix)
	appID, what, ok := strings.Cut(rest, "/config/")
	if !ok || !stepup.ValidKey(appID) || (what != "stepup" && what != "scopes") {
		adminFail(w, errAdminNotFound)
		return
	}
	if a.app == nil {
		adminFail(w, stepup.ErrNotConfigured)
		return
	}
	if !a.managementAuthorized(r) {
		managementError(w, apierror.Unauthorized, "unauthorized", "A valid management key is required.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		a.readManagement(w, what)
	case http.MethodPost, http.MethodPut:
		a.changeManagement(w, r, what)
	default:
		adminMethod(w, "GET, POST")
	}
}

// managementAuthorized checks the bearer key in constant time, when one
// is configured.
func (a *AdminAPI) managementAuthorized(r *http.Request) bool {
	key := ""
	if a.app.Management != nil {
		key = a.app.Management.Key
	}
	if key == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1
}

func (a *AdminAPI) readManagement(w http.ResponseWriter, what string) {
	m := a.app.Management
	if m == nil {
		m = &ManagementConfig{}
	}
	if what == "scopes" {
		adminJSON(w, http.StatusOK, map[string]any{"scopes": append([]string{}, m.Scopes...)})
		return
	}
	if len(m.StepUp) == 0 {
		managementError(w, apierror.NotFound, "not_found", "No step-up configuration was posted.")
		return
	}
	adminJSON(w, http.StatusOK, map[string]any{"config": withTimes(m.StepUp, m.CreatedAt, m.UpdatedAt)})
}

// withTimes adds created_at and updated_at to a posted document.
func withTimes(doc json.RawMessage, created, updated string) map[string]any {
	var out map[string]any
	_ = json.Unmarshal(doc, &out) // a document this module stored
	if out == nil {
		out = map[string]any{}
	}
	out["created_at"], out["updated_at"] = created, updated
	return out
}

func (a *AdminAPI) changeManagement(w http.ResponseWriter, r *http.Request, what string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		managementError(w, apierror.BadRequest, "bad_request", "The body must be a JSON object of at most 64 KiB.")
		return
	}
	raw, err := a.currentAppConfig(r)
	if err != nil {
		managementError(w, apierror.Unavailable, "internal", "The current config could not be read.")
		return
	}
	mgmt := map[string]json.RawMessage{}
	if m, ok := raw["management"]; ok {
		if err := json.Unmarshal(m, &mgmt); err != nil {
			managementError(w, apierror.Unavailable, "internal", "The current config could not be read.")
			return
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	if _, ok := mgmt["created_at"]; !ok {
		mgmt["created_at"] = mustRaw(now)
	}
	mgmt["updated_at"] = mustRaw(now)

	var answer any
	switch what {
	case "scopes":
		var req struct {
			Scope string `json:"scope"`
		}
		if err := strictDecode(body, &req); err != nil || !stepup.ValidKey(req.Scope) {
			managementError(w, apierror.BadRequest, "bad_request", `The body must be {"scope": "<letters, digits and . _ : ->"}.`)
			return
		}
		var scopes []string
		_ = json.Unmarshal(mgmt["scopes"], &scopes)
		if !slices.Contains(scopes, req.Scope) {
			scopes = append(scopes, req.Scope)
		}
		mgmt["scopes"] = mustRaw(scopes)
		answer = map[string]any{"scope": req.Scope, "scopes": scopes}
	case "stepup":
		var cfg preludeStepUpConfig
		if err := strictDecode(body, &cfg); err != nil {
			managementError(w, apierror.BadRequest, "bad_request", "The body is not a step-up configuration: "+err.Error())
			return
		}
		scopes, keys, err := cfg.scopeBlocks()
		if err != nil {
			managementError(w, apierror.BadRequest, "bad_request", err.Error())
			return
		}
		raw["scopes"] = mustRaw(scopes)
		if len(keys) > 0 {
			cs := map[string]json.RawMessage{}
			if old, ok := raw["custom_steps"]; ok {
				_ = json.Unmarshal(old, &cs)
			}
			cs["jwks_url"], cs["keys"] = mustRaw(cfg.JWKSURL), mustRaw(keys)
			raw["custom_steps"] = mustRaw(cs)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, body)
		mgmt["stepup"] = compact.Bytes()
		answer = map[string]any{"config": withTimes(compact.Bytes(), unquote(mgmt["created_at"]), now)}
	}
	raw["management"] = mustRaw(mgmt)
	if err := a.loadAppConfig(r, raw); err != nil {
		managementError(w, apierror.BadRequest, "bad_request", "The gateway refused the configuration: "+err.Error())
		return
	}
	a.app.audit(stepup.Event{Name: eventAdminConfigChanged, Reason: what})
	adminJSON(w, http.StatusOK, answer)
}

// scopeBlocks turns Prelude's allowed_scopes into the app's scope blocks,
// checked as the Caddyfile's are; it also returns the custom step keys.
func (c *preludeStepUpConfig) scopeBlocks() (map[string]*Scope, []string, error) {
	var keys []string
	for _, k := range c.StepKeys {
		keys = append(keys, k.Key)
	}
	if len(keys) > 0 {
		if err := checkJWKSURL(c.JWKSURL); err != nil {
			return nil, nil, fmt.Errorf("jwks_url: %v", err)
		}
	}
	registry, err := stepup.NewStepRegistry(keys)
	if err != nil {
		return nil, nil, err
	}
	scopes := map[string]*Scope{}
	for _, s := range c.AllowedScopes {
		if _, dup := scopes[s.Scope]; dup {
			continue // Prelude: the first matching entry wins
		}
		block := &Scope{}
		switch s.Mode {
		case "delegated":
			if s.Delegated == nil {
				return nil, nil, fmt.Errorf("scope %s: mode delegated needs delegated.delegation_hook", s.Scope)
			}
			block.Delegated = s.Delegated.DelegationHook
		case "direct":
			if s.Direct == nil {
				return nil, nil, fmt.Errorf("scope %s: mode direct needs direct.steps", s.Scope)
			}
			d := &DirectScope{GrantedFor: secondsDuration(s.Direct.GrantedFor), GrantMode: s.Direct.GrantMode}
			for _, st := range s.Direct.Steps {
				d.Steps = append(d.Steps, DirectStep{Key: st.Key, Expiration: secondsDuration(st.ExpirationDuration)})
			}
			block.Direct = d
		case "block":
			block.Block = true
		default:
			return nil, nil, fmt.Errorf("scope %s: mode %q is not one of delegated, direct, block", s.Scope, s.Mode)
		}
		if err := validateScope(s.Scope, block, registry); err != nil {
			return nil, nil, fmt.Errorf("scope %s: %v", s.Scope, err)
		}
		scopes[s.Scope] = block
	}
	return scopes, keys, nil
}

// currentAppConfig reads apps.stepup as the admin endpoint holds it:
// placeholders unresolved, defaults not filled in.
func (a *AdminAPI) currentAppConfig(r *http.Request) (map[string]json.RawMessage, error) {
	resp, err := a.selfCall(r, http.MethodGet, "/config/apps/stepup", nil)
	if err != nil {
		return nil, err
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(resp, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// loadAppConfig replaces apps.stepup through Caddy's config API.
func (a *AdminAPI) loadAppConfig(r *http.Request, raw map[string]json.RawMessage) error {
	body, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	_, err = a.selfCall(r, http.MethodPost, "/config/apps/stepup", body)
	return err
}

// selfCall makes a request to this admin endpoint, on the listener and
// with the Host the management call came in with.
func (a *AdminAPI) selfCall(r *http.Request, method, path string, body []byte) ([]byte, error) {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		return nil, errors.New("admin endpoint address unknown")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, local.Network(), local.String())
		},
	}}
	req, err := http.NewRequestWithContext(r.Context(), method, "http://"+r.Host+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Host = r.Host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(out, &e)
		return nil, fmt.Errorf("%s", strings.TrimSpace(e.Error))
	}
	return out, nil
}

// strictDecode reads one JSON object into v, refusing unknown fields and
// trailing data.
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("admin config: %v", err))
	}
	return b
}

func unquote(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func secondsDuration(n int) caddy.Duration { return caddy.Duration(time.Duration(n) * time.Second) }
