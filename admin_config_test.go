package caddystepup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// preludeStepUpBody is the POST .../config/stepup of Prelude's documentation, with a step key.
const preludeStepUpBody = `{
  "jwks_url": "https://backend.example.com/.well-known/jwks.json",
  "step_keys": [{"key": "kyc_review", "description": "A KYC review"}],
  "allowed_scopes": [
    {"scope": "transfer:write", "mode": "delegated", "delegated": {"delegation_hook": "https://backend.internal/hooks/stepup"}},
    {"scope": "profile:write", "mode": "direct", "direct": {"identifier_types": ["phone_number"], "granted_for": 600,
      "grant_mode": "session-bound", "steps": [{"order": 1, "key": "verify_sms", "expiration_duration": 300}, {"order": 2, "key": "kyc_review", "expiration_duration": 3600}]}},
    {"scope": "admin:all", "mode": "block"},
    {"scope": "transfer:write", "mode": "block"}
  ]
}`

func TestPostedStepUpBecomesScopeBlocks(t *testing.T) {
	p, err := parsePostedStepUp([]byte(preludeStepUpBody))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(p.scopes)
	want := `{"admin:all":{"block":true},` +
		`"profile:write":{"direct":{"steps":[{"key":"verify_sms","expiration":300000000000},{"key":"kyc_review","expiration":3600000000000}],"granted_for":600000000000,"grant_mode":"session-bound"}},` +
		`"transfer:write":{"delegated":"https://backend.internal/hooks/stepup"}}`
	if string(got) != want {
		t.Errorf("scopes:\n%s\nwant\n%s", got, want)
	}
	if strings.Join(p.keys, ",") != "kyc_review" || p.jwksURL != "https://backend.example.com/.well-known/jwks.json" {
		t.Errorf("custom steps: %v %s", p.keys, p.jwksURL)
	}
	if strings.ContainsAny(string(p.doc), "\n ") && strings.Contains(string(p.doc), "\n") {
		t.Errorf("the kept document is not compacted: %s", p.doc)
	}
}

// Every string a caller posts, in each of Prelude's bodies, is refused
// when it could be a placeholder, however the brace is written; the
// refusal quotes what was posted and nothing else.
func TestPostedStringsWithBracesAreRefusedInEveryField(t *testing.T) {
	fields := map[string]string{ // a body template per string field; %s is the posted value
		"jwks_url":          `{"jwks_url":"https://h.example/%s","step_keys":[{"key":"k1","description":"d"}],"allowed_scopes":[]}`,
		"step_keys.key":     `{"jwks_url":"https://h.example/j","step_keys":[{"key":"%s","description":"d"}],"allowed_scopes":[]}`,
		"description":       `{"jwks_url":"https://h.example/j","step_keys":[{"key":"k1","description":"%s"}],"allowed_scopes":[]}`,
		"scope":             `{"allowed_scopes":[{"scope":"%s","mode":"block"}]}`,
		"mode":              `{"allowed_scopes":[{"scope":"a","mode":"%s"}]}`,
		"delegation_hook":   `{"allowed_scopes":[{"scope":"a","mode":"delegated","delegated":{"delegation_hook":"https://h.example/%s"}}]}`,
		"identifier_types":  `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"identifier_types":["%s"],"steps":[{"order":1,"key":"verify_sms"}]}}]}`,
		"grant_mode":        `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"grant_mode":"%s","steps":[{"order":1,"key":"verify_sms"}]}}]}`,
		"steps.key":         `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"steps":[{"order":1,"key":"%s"}]}}]}`,
		"config/scopes":     `{"scope":"%s"}`,
		"hook with no path": `{"allowed_scopes":[{"scope":"a","mode":"delegated","delegated":{"delegation_hook":"%s"}}]}`,
	}
	for _, value := range []string{
		`{file./var/lib/caddy/stepup/signing_key.pem}`,
		`{env.STEPUP_SECRET}`,
		`{http.request.header.Authorization}`,
		`{{env.STEPUP_SECRET}}`,
		`{env.{env.STEPUP_SECRET}}`,
		`a/{env.STEPUP_SECRET`, // an opening brace alone
		`env.STEPUP_SECRET}`,   // a closing brace alone
		`\\{env.STEPUP_SECRET\\}`,
		`\u007benv.STEPUP_SECRET\u007d`,
		`\u007Benv.STEPUP_SECRET}`,
		`{}`,
	} {
		for field, template := range fields {
			body := fmt.Sprintf(template, value)
			var err error
			if field == "config/scopes" {
				_, err = adminapi.ReadScope([]byte(body))
			} else {
				_, err = parsePostedStepUp([]byte(body))
			}
			var ae *adminapi.Error
			if !errors.As(err, &ae) || ae.Kind != apierror.BadRequest || !strings.Contains(ae.Message, "{ or }") {
				t.Errorf("%s = %s: %v", field, value, err)
				continue
			}
			if strings.Contains(ae.Message, "BEGIN") || strings.Contains(ae.Message, "/root") {
				t.Errorf("%s: the refusal quotes something not posted: %s", field, ae.Message)
			}
		}
	}
}

// A brace written as %7B is a literal in a URL: accepted there, stored as
// posted, never a placeholder. Elsewhere the field's own rules apply.
func TestPercentEncodedBracesStayLiteral(t *testing.T) {
	const value = `%7Benv.STEPUP_SECRET%7D`
	p, err := parsePostedStepUp([]byte(`{"jwks_url":"https://h.example/` + value + `","step_keys":[{"key":"k1","description":"` + value + `"}],` +
		`"allowed_scopes":[{"scope":"a","mode":"delegated","delegated":{"delegation_hook":"https://h.example/` + value + `"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.scopes["a"].Delegated != "https://h.example/"+value || p.jwksURL != "https://h.example/"+value || !strings.Contains(string(p.doc), value) {
		t.Errorf("not kept as posted: %+v %s %s", p.scopes["a"], p.jwksURL, p.doc)
	}
	for _, body := range []string{
		`{"allowed_scopes":[{"scope":"` + value + `","mode":"block"}]}`,
		`{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"steps":[{"order":1,"key":"` + value + `"}]}}]}`,
		`{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"grant_mode":"` + value + `","steps":[{"order":1,"key":"verify_sms"}]}}]}`,
	} {
		if _, err := parsePostedStepUp([]byte(body)); err == nil {
			t.Errorf("accepted: %s", body)
		}
	}
	if _, err := adminapi.ReadScope([]byte(`{"scope":"` + value + `"}`)); err == nil {
		t.Error("config/scopes accepted a scope with %")
	}
}

func TestPostedBodiesReadAlikeByEveryParser(t *testing.T) {
	for name, body := range map[string]string{
		"duplicate member":       `{"allowed_scopes":[],"allowed_scopes":[{"scope":"a","mode":"block"}]}`,
		"duplicate nested":       `{"allowed_scopes":[{"scope":"a","scope":"b","mode":"block"}]}`,
		"case variant":           `{"JWKS_URL":"https://h.example/j","allowed_scopes":[]}`,
		"case variant nested":    `{"allowed_scopes":[{"Scope":"a","mode":"block"}]}`,
		"two names, one folded":  `{"mode":"x","allowed_scopes":[]}`,
		"unknown member":         `{"allowed_scopes":[],"owner":"x"}`,
		"unknown nested":         `{"allowed_scopes":[{"scope":"a","mode":"block","acr":"x"}]}`,
		"trailing data":          `{"allowed_scopes":[]} {}`,
		"not an object":          `[]`,
		"lone surrogate":         `{"allowed_scopes":[{"scope":"a\ud800","mode":"block"}]}`,
		"invalid UTF-8":          "{\"allowed_scopes\":[{\"scope\":\"a\xff\",\"mode\":\"block\"}]}",
		"newline in a value":     `{"allowed_scopes":[{"scope":"a","mode":"delegated","delegated":{"delegation_hook":"https://h.example/\n"}}]}`,
		"NUL in a description":   `{"jwks_url":"https://h.example/j","step_keys":[{"key":"k1","description":"a\u0000"}],"allowed_scopes":[]}`,
		"string for a number":    `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"granted_for":"600","steps":[{"order":1,"key":"verify_sms"}]}}]}`,
		"negative granted_for":   `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"granted_for":-1,"steps":[{"order":1,"key":"verify_sms"}]}}]}`,
		"granted_for over a day": `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"granted_for":86401,"steps":[{"order":1,"key":"verify_sms"}]}}]}`,
		"overflowing expiration": `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"steps":[{"order":1,"key":"verify_sms","expiration_duration":9223372037}]}}]}`,
		"managed mode":           `{"allowed_scopes":[{"scope":"prld:phone:register","mode":"managed"}]}`,
		"delegated without hook": `{"allowed_scopes":[{"scope":"a","mode":"delegated"}]}`,
		"relative hook":          `{"allowed_scopes":[{"scope":"a","mode":"delegated","delegated":{"delegation_hook":"hooks/x"}}]}`,
		"http jwks off loopback": `{"jwks_url":"http://h.example/j","step_keys":[{"key":"k1"}],"allowed_scopes":[]}`,
		"a built-in step key":    `{"jwks_url":"https://h.example/j","step_keys":[{"key":"verify_sms"}],"allowed_scopes":[]}`,
	} {
		_, err := parsePostedStepUp([]byte(body))
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Kind != apierror.BadRequest {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, body := range []string{`{}`, `{"scope":""}`, `{"scope":"a","Scope":"b"}`, `{"scope":"a","x":1}`, `{"scope":1}`} {
		if _, err := adminapi.ReadScope([]byte(body)); err == nil {
			t.Errorf("config/scopes accepted %s", body)
		}
	}
}

// checkPosted checks posted blocks against the running app: a direct step
// must be a step the config (as the change leaves it) can run.
func TestPostedScopesAreCheckedAgainstTheRunningApp(t *testing.T) {
	app := &App{Config: appconfig.Config{Issuer: "https://api.example.com", LoginACR: "urn:stepup:otp",
		CustomSteps: &appconfig.CustomStepsConfig{JWKSURL: "https://backend.example.com/jwks", Keys: []string{"operator_step"}, Algorithms: []string{"RS256"}}}}
	bare := &App{}
	bare.setDefaults() // as the running app's Provision left it
	direct := func(key string) string {
		return `{"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"steps":[{"order":1,"key":"` + key + `"}]}}]}`
	}
	for name, c := range map[string]struct {
		app  *App
		body string
		ok   bool
	}{
		"a built-in step":                       {app, direct("verify_email"), true},
		"the operator's custom step":            {app, direct("operator_step"), true},
		"an unknown step":                       {app, direct("verify_fax"), false},
		"a posted step key":                     {app, `{"jwks_url":"https://b.example/j","step_keys":[{"key":"k2"}],"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"steps":[{"order":1,"key":"k2"}]}}]}`, true},
		"posted keys replace the operator's":    {app, `{"jwks_url":"https://b.example/j","step_keys":[{"key":"k2"}],"allowed_scopes":[{"scope":"a","mode":"direct","direct":{"steps":[{"order":1,"key":"operator_step"}]}}]}`, false},
		"scope blocks on an app without issuer": {bare, `{"allowed_scopes":[{"scope":"a","mode":"block"}]}`, false},
		"no scopes on an app without issuer":    {bare, `{"allowed_scopes":[]}`, true},
	} {
		p, err := parsePostedStepUp([]byte(c.body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err = c.app.checkPosted(p)
		var ae *adminapi.Error
		if c.ok != (err == nil) || (err != nil && !errors.As(err, &ae)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// currentApp is apps.stepup as Caddy's admin endpoint holds it: as
// written, placeholders unresolved.
const currentApp = `{"issuer":"https://api.example.com","signing_key":"{env.SIGNING_KEY_PATH}",` +
	`"store":{"backend":"redis","url":"{env.REDIS_URL}"},` +
	`"custom_steps":{"jwks_url":"https://old.example/jwks","keys":["old"],"issuer":"{env.CS_ISS}","max_lifetime":60000000000},` +
	`"scopes":{"old:scope":{"delegated":"{env.OLD_HOOK}"}},` +
	`"management":{"key":"{env.STEPUP_ADMIN_KEY}","created_at":"2026-01-01T00:00:00Z","scopes":["x"]}}`

func TestSetStepUpChangesOnlyScopesCustomStepKeysAndManagement(t *testing.T) {
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(currentApp), &raw); err != nil {
		t.Fatal(err)
	}
	p, err := parsePostedStepUp([]byte(preludeStepUpBody))
	if err != nil {
		t.Fatal(err)
	}
	answer := setStepUp(raw, p, "2026-02-02T00:00:00Z")
	var got struct {
		SigningKey  string `json:"signing_key"`
		Store       map[string]string
		CustomSteps map[string]any `json:"custom_steps"`
		Scopes      map[string]*appconfig.Scope
		Management  *appconfig.ManagementConfig
	}
	if err := json.Unmarshal(mustRaw(raw), &got); err != nil {
		t.Fatal(err)
	}
	if got.SigningKey != "{env.SIGNING_KEY_PATH}" || got.Store["url"] != "{env.REDIS_URL}" || got.Management.Key != "{env.STEPUP_ADMIN_KEY}" {
		t.Errorf("the operator's settings changed: %+v", got)
	}
	if got.CustomSteps["jwks_url"] != p.jwksURL || fmt.Sprint(got.CustomSteps["keys"]) != "[kyc_review]" ||
		got.CustomSteps["issuer"] != "{env.CS_ISS}" || got.CustomSteps["max_lifetime"] != 6e10 {
		t.Errorf("custom_steps: %v", got.CustomSteps)
	}
	if _, old := got.Scopes["old:scope"]; old || got.Scopes["transfer:write"].Delegated != "https://backend.internal/hooks/stepup" {
		t.Errorf("scopes: %v", got.Scopes)
	}
	m := got.Management
	if m.CreatedAt != "2026-01-01T00:00:00Z" || m.UpdatedAt != "2026-02-02T00:00:00Z" || string(m.StepUp) != string(p.doc) ||
		strings.Join(m.Scopes, ",") != "x" {
		t.Errorf("management: %+v", m)
	}
	a, _ := json.Marshal(answer)
	if !strings.Contains(string(a), `"created_at":"2026-01-01T00:00:00Z"`) || !strings.Contains(string(a), `"updated_at":"2026-02-02T00:00:00Z"`) ||
		strings.Contains(string(a), "STEPUP_ADMIN_KEY") {
		t.Errorf("answer: %s", a)
	}

	// Without step keys, custom_steps stays as written.
	raw = map[string]json.RawMessage{}
	_ = json.Unmarshal([]byte(currentApp), &raw)
	p, _ = parsePostedStepUp([]byte(`{"allowed_scopes":[{"scope":"a","mode":"block"}]}`))
	setStepUp(raw, p, "2026-02-02T00:00:00Z")
	if cs := string(raw["custom_steps"]); !strings.Contains(cs, `"keys":["old"]`) || !strings.Contains(cs, "old.example") {
		t.Errorf("custom_steps without posted keys: %s", cs)
	}
}

func TestAddScopeRegistersOnce(t *testing.T) {
	raw := map[string]json.RawMessage{}
	_ = json.Unmarshal([]byte(currentApp), &raw)
	addScope(raw, "transfer:write", "2026-02-02T00:00:00Z")
	answer := addScope(raw, "transfer:write", "2026-02-03T00:00:00Z")
	var m appconfig.ManagementConfig
	_ = json.Unmarshal(raw["management"], &m)
	if strings.Join(m.Scopes, ",") != "x,transfer:write" || m.Key != "{env.STEPUP_ADMIN_KEY}" || m.UpdatedAt != "2026-02-03T00:00:00Z" ||
		m.CreatedAt != "2026-01-01T00:00:00Z" || string(raw["scopes"]) != `{"old:scope":{"delegated":"{env.OLD_HOOK}"}}` {
		t.Errorf("management %+v, scopes %s", m, raw["scopes"])
	}
	if a, _ := json.Marshal(answer); string(a) != `{"scope":"transfer:write","scopes":["x","transfer:write"]}` {
		t.Errorf("answer %s", a)
	}
	// The first registration on an app without management sets created_at.
	empty := map[string]json.RawMessage{}
	addScope(empty, "a", "2026-02-02T00:00:00Z")
	if string(empty["management"]) != `{"created_at":"2026-02-02T00:00:00Z","scopes":["a"],"updated_at":"2026-02-02T00:00:00Z"}` {
		t.Errorf("first registration: %s", empty["management"])
	}
}

// heldConfig stands for Caddy's admin endpoint: it holds apps.stepup and
// its Etag, and answers a post as the test sets.
type heldConfig struct {
	doc     string
	etag    string
	posts   []string
	ifMatch []string
	postErr error
	getErr  error
}

func (c *heldConfig) getApp(context.Context) ([]byte, string, error) {
	return []byte(c.doc), c.etag, c.getErr
}

func (c *heldConfig) postApp(_ context.Context, doc []byte, etag string) error {
	c.posts, c.ifMatch = append(c.posts, string(doc)), append(c.ifMatch, etag)
	return c.postErr
}

func TestChangeGoesThroughTheConfigAPIWithItsEtag(t *testing.T) {
	app := &App{Config: appconfig.Config{Issuer: "https://api.example.com"}}
	app.setDefaults()
	clock := func() time.Time { return time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC) }
	held := &heldConfig{doc: currentApp, etag: `"/config/apps/stepup 0123abcd"`}
	m := &management{app: app, config: held, now: clock}
	if _, err := m.Change(context.Background(), adminapi.Scopes, []byte(`{"scope":"transfer:write"}`)); err != nil {
		t.Fatal(err)
	}
	if len(held.posts) != 1 || held.ifMatch[0] != held.etag || !strings.Contains(held.posts[0], `"scopes":["x","transfer:write"]`) {
		t.Fatalf("posted %v with If-Match %v", held.posts, held.ifMatch)
	}

	for name, c := range map[string]struct {
		postErr, getErr error
		want            *adminapi.Error
	}{
		"changed meanwhile": {postErr: errConfigChanged, want: errConcurrent},
		"refused by Caddy":  {postErr: fmt.Errorf("%w: loading signing_key: open /secret/path", errConfigRefused), want: errRefused},
	} {
		held := &heldConfig{doc: currentApp, postErr: c.postErr, getErr: c.getErr}
		_, err := (&management{app: app, config: held, now: clock}).Change(context.Background(), adminapi.StepUpConfig, []byte(preludeStepUpBody))
		if err != c.want {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), "/secret/path") {
			t.Errorf("%s: Caddy's text passed on: %v", name, err)
		}
	}
	// A failure to reach the endpoint is no refusal: adminapi answers 503
	// without its text.
	held = &heldConfig{getErr: errors.New("dial unix /run/caddy.sock: connection refused")}
	if _, err := (&management{app: app, config: held, now: clock}).Change(context.Background(), adminapi.Scopes, []byte(`{"scope":"a"}`)); err == nil || len(held.posts) != 0 {
		t.Errorf("unreachable endpoint: %v, %d posts", err, len(held.posts))
	}
	// A refused body never reaches the endpoint.
	held = &heldConfig{doc: currentApp}
	if _, err := (&management{app: app, config: held, now: clock}).Change(context.Background(), adminapi.StepUpConfig,
		[]byte(`{"allowed_scopes":[{"scope":"a","mode":"delegated","delegated":{"delegation_hook":"http://h/{env.HOME}"}}]}`)); err == nil || len(held.posts) != 0 {
		t.Errorf("a body with a placeholder: %v, %d posts", err, len(held.posts))
	}
}

func TestReadAnswersWithoutTheKey(t *testing.T) {
	app := &App{Config: appconfig.Config{Management: &appconfig.ManagementConfig{Key: "resolved-management-key", StepUp: json.RawMessage(`{"allowed_scopes":[]}`),
		Scopes: []string{"a"}, CreatedAt: "c", UpdatedAt: "u"}}}
	m := &management{app: app}
	for _, what := range []adminapi.Resource{adminapi.StepUpConfig, adminapi.Scopes} {
		v, err := m.Read(context.Background(), what)
		b, _ := json.Marshal(v)
		if err != nil || strings.Contains(string(b), "resolved-management-key") || len(b) < 10 {
			t.Errorf("%s: %s %v", what, b, err)
		}
	}
	if _, err := (&management{app: &App{}}).Read(context.Background(), adminapi.StepUpConfig); err != errNothingPosted {
		t.Errorf("nothing posted: %v", err)
	}
}

func TestEndpointAtAdminAddresses(t *testing.T) {
	for listen, want := range map[string]adminEndpoint{
		"localhost:2019":             {network: "tcp", address: "localhost:2019", host: "localhost:2019", origin: "http://localhost:2019"},
		"127.0.0.1:2999":             {network: "tcp", address: "127.0.0.1:2999", host: "127.0.0.1:2999", origin: "http://127.0.0.1:2999"},
		"[::1]:2019":                 {network: "tcp", address: "[::1]:2019", host: "[::1]:2019", origin: "http://[::1]:2019"},
		"unix//run/caddy/admin.sock": {network: "unix", address: "/run/caddy/admin.sock", host: "127.0.0.1"},
		"unix//run/admin.sock|0660":  {network: "unix", address: "/run/admin.sock", host: "127.0.0.1"},
	} {
		got, err := endpointAt(listen)
		if err != nil || *got != want {
			t.Errorf("%s: %+v %v", listen, got, err)
		}
	}
	for _, listen := range []string{"localhost:2019-2020", "fd/3", "localhost:x"} {
		if _, err := endpointAt(listen); err == nil {
			t.Errorf("%s accepted", listen)
		}
	}
}
