package caddystepup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// The management calls of Prelude's API (routes in package adminapi):
//
//	POST|GET /stepup/v2/session/apps/{APP_ID}/config/stepup
//	POST|GET /stepup/v2/session/apps/{APP_ID}/config/scopes
//	PUT|GET  /stepup/v2/session/apps/{APP_ID}/config/passkey (admin_config_passkey.go)
//
// with Prelude's bodies, so that the curl commands of Prelude's documentation work with only
// the host changed. A change is checked (admin_config_body.go), then
// applied through Caddy's own config API (admin_endpoint.go).

// management is the Caddy shell's side of the management calls: it reads
// the app's management settings, and edits apps.stepup through config.
type management struct {
	app    *App
	config configAPI
	now    func() time.Time
}

var (
	errNothingPosted = &adminapi.Error{Kind: apierror.NotFound, Code: "not_found", Message: "No step-up configuration was posted."}
	errConcurrent    = &adminapi.Error{Kind: apierror.Conflict, Code: "conflict",
		Message: "The configuration changed while this call was applied; nothing changed, try again."}
	errRefused = &adminapi.Error{Kind: apierror.BadRequest, Code: "bad_request",
		Message: "The gateway refused the configuration this call makes; nothing changed (Caddy's log says why)."}
	errUnreadable = errors.New("apps.stepup is not a JSON object")
)

// Read answers GET .../config/{what}.
func (m *management) Read(_ context.Context, what adminapi.Resource) (any, error) {
	mc := m.app.Management
	if mc == nil {
		mc = &appconfig.ManagementConfig{}
	}
	switch what {
	case adminapi.Scopes:
		return map[string]any{"scopes": append([]string{}, mc.Scopes...)}, nil
	case adminapi.PasskeyConfig:
		return m.readPasskey()
	}
	if len(mc.StepUp) == 0 {
		return nil, errNothingPosted
	}
	return map[string]any{"config": adminapi.WithTimes(mc.StepUp, mc.CreatedAt, mc.UpdatedAt)}, nil
}

// Change checks the body of POST .../config/{what}, then replaces
// apps.stepup with the change applied, if nobody changed it meanwhile.
func (m *management) Change(ctx context.Context, what adminapi.Resource, body []byte) (any, error) {
	var edit func(map[string]json.RawMessage, string) any
	switch what {
	case adminapi.Scopes:
		scope, err := adminapi.ReadScope(body)
		if err != nil {
			return nil, err
		}
		edit = func(raw map[string]json.RawMessage, now string) any { return addScope(raw, scope, now) }
	case adminapi.PasskeyConfig:
		posted, err := parsePostedPasskey(body)
		if err != nil {
			return nil, err
		}
		if err := m.app.checkPostedPasskey(posted); err != nil {
			return nil, err
		}
		edit = func(raw map[string]json.RawMessage, now string) any { return setPasskey(raw, posted, now) }
	default:
		posted, err := parsePostedStepUp(body)
		if err != nil {
			return nil, err
		}
		if err := m.app.checkPosted(posted); err != nil {
			return nil, err
		}
		edit = func(raw map[string]json.RawMessage, now string) any { return setStepUp(raw, posted, now) }
	}
	doc, etag, err := m.config.getApp(ctx)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, errUnreadable
	}
	if raw == nil { // no apps.stepup yet: the change writes it
		raw = map[string]json.RawMessage{}
	}
	answer := edit(raw, m.now().UTC().Format(time.RFC3339))
	switch err := m.config.postApp(ctx, mustRaw(raw), etag); {
	case errors.Is(err, errConfigChanged):
		return nil, errConcurrent
	case errors.Is(err, errConfigRefused):
		return nil, errRefused
	case err != nil:
		return nil, err
	}
	m.app.recorder.ConfigChanged(string(what))
	return answer, nil
}

// addScope registers scope in apps.stepup's management object; the answer
// lists every registered scope.
func addScope(raw map[string]json.RawMessage, scope, now string) any {
	mgmt := adminapi.Stamp(raw["management"], now)
	var scopes []string
	_ = json.Unmarshal(mgmt["scopes"], &scopes)
	if !slices.Contains(scopes, scope) {
		scopes = append(scopes, scope)
	}
	mgmt["scopes"] = mustRaw(scopes)
	raw["management"] = mustRaw(mgmt)
	return map[string]any{"scope": scope, "scopes": scopes}
}

// setStepUp makes the posted allowed_scopes the app's scope blocks and the
// posted step keys its custom steps (their other settings kept), and keeps
// the body as posted. Everything else in apps.stepup, management.key
// included, stays as written.
func setStepUp(raw map[string]json.RawMessage, p *postedStepUp, now string) any {
	mgmt := adminapi.Stamp(raw["management"], now)
	raw["scopes"] = mustRaw(p.scopes)
	if len(p.keys) > 0 {
		cs := map[string]json.RawMessage{}
		_ = json.Unmarshal(raw["custom_steps"], &cs)
		if cs == nil {
			cs = map[string]json.RawMessage{}
		}
		cs["jwks_url"], cs["keys"] = mustRaw(p.jwksURL), mustRaw(p.keys)
		raw["custom_steps"] = mustRaw(cs)
	}
	mgmt["stepup"] = p.doc
	raw["management"] = mustRaw(mgmt)
	var created string
	_ = json.Unmarshal(mgmt["created_at"], &created)
	return map[string]any{"config": adminapi.WithTimes(p.doc, created, now)}
}

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("admin config: %v", err))
	}
	return b
}

func secondsDuration(n int) appconfig.Duration {
	return appconfig.Duration(time.Duration(n) * time.Second)
}
