package caddystepup

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/adminapi"
	"github.com/caddy-stepup/caddy-stepup/apierror"
	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// seedPasskeyBody is the example body of Prelude's passkey configuration.
const seedPasskeyBody = `{"rp_id":"example.com","rp_name":"Example","allowed_origins":["https://example.com","https://app.example.com"],` +
	`"user_verification":"required","attestation_preference":"none","login_enabled":false}`

// passkeyApp is a running app with passkeys and an OTP sender.
func passkeyApp(t *testing.T) *App {
	t.Helper()
	app := &App{Config: appconfig.Config{Issuer: "https://example.com", OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}},
		Login: &appconfig.LoginConfig{OTP: []string{"phone_number"}}, Passkey: &appconfig.PasskeyConfig{ACR: "phr", HardwareACR: "phrh"},
		Scopes: map[string]*appconfig.Scope{"pay:confirm": {ACR: "phr", Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_passkey"}}}}}}}
	app.setDefaults()
	if err := app.Validate(); err != nil {
		t.Fatal(err)
	}
	return app
}

// TestPutPasskeyChangesOnlyTheRelyingParty: the posted settings replace
// the block's relying party settings (what is left out takes its default),
// the block's acr words and everything else in apps.stepup stay, and the
// change goes through the config API with its Etag.
func TestPutPasskeyChangesOnlyTheRelyingParty(t *testing.T) {
	app := passkeyApp(t)
	current := `{"issuer":"https://example.com","signing_key":"{env.SIGNING_KEY_PATH}",` +
		`"passkey":{"rp_id":"old.example.com","aaguid_allowlist":["ee882879-721c-4913-9775-3dfcce97072a"],"attestation_preference":"direct","acr":"phr","acr_hardware":"phrh"},` +
		`"scopes":{"pay:confirm":{"acr":"phr","direct":{"steps":[{"key":"verify_passkey"}]}}},"management":{"key":"{env.K}"}}`
	held := &heldConfig{doc: current, etag: `"/config/apps/stepup 1"`}
	clock := func() time.Time { return time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC) }
	m := &management{app: app, config: held, now: clock}
	answer, err := m.Change(context.Background(), adminapi.PasskeyConfig, []byte(seedPasskeyBody))
	if err != nil {
		t.Fatal(err)
	}
	if len(held.posts) != 1 || held.ifMatch[0] != held.etag {
		t.Fatalf("posted %d documents, If-Match %v", len(held.posts), held.ifMatch)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(held.posts[0]), &doc); err != nil {
		t.Fatal(err)
	}
	const wantBlock = `{"acr":"phr","acr_hardware":"phrh","allowed_origins":["https://example.com","https://app.example.com"],` +
		`"attestation_preference":"none","rp_id":"example.com","rp_name":"Example","user_verification":"required"}`
	if string(doc["passkey"]) != wantBlock {
		t.Fatalf("passkey block:\n%s\nwant\n%s", doc["passkey"], wantBlock)
	}
	for _, kept := range []string{"issuer", "signing_key", "scopes"} {
		if !strings.Contains(current, string(doc[kept])) {
			t.Errorf("%s changed: %s", kept, doc[kept])
		}
	}
	if !strings.Contains(string(doc["management"]), `"key":"{env.K}"`) || !strings.Contains(string(doc["management"]), `"updated_at":"2026-03-03T00:00:00Z"`) {
		t.Errorf("management: %s", doc["management"])
	}
	cfg := answer.(map[string]any)["config"].(map[string]any)
	if cfg["rp_id"] != "example.com" || cfg["login_enabled"] != false || cfg["updated_at"] != "2026-03-03T00:00:00Z" {
		t.Errorf("answer: %v", cfg)
	}

	read, err := m.Read(context.Background(), adminapi.PasskeyConfig)
	if err != nil {
		t.Fatal(err)
	}
	got := read.(map[string]any)["config"].(map[string]any)
	if got["rp_id"] != "example.com" || got["user_verification"] != "required" || got["attestation_preference"] != "none" {
		t.Errorf("GET reads the running block: %v", got)
	}
	if _, err := (&management{app: &App{}}).Read(context.Background(), adminapi.PasskeyConfig); err != errNoPasskeyBlock {
		t.Errorf("GET without passkeys: %v", err)
	}
}

// TestPutPasskeyRefusals: bodies that are not Prelude's shape exactly,
// and configurations the running app would refuse, change nothing.
func TestPutPasskeyRefusals(t *testing.T) {
	app := passkeyApp(t)
	for name, body := range map[string]string{
		"not JSON":                      `rp_id=example.com`,
		"a member of another name":      strings.Replace(seedPasskeyBody, `"rp_name"`, `"RP_Name"`, 1),
		"a member twice":                strings.Replace(seedPasskeyBody, `"rp_name":"Example"`, `"rp_name":"Example","rp_name":"Other"`, 1),
		"a gateway word":                strings.Replace(seedPasskeyBody, `"login_enabled":false`, `"acr":"phr"`, 1),
		"a placeholder":                 strings.Replace(seedPasskeyBody, `"Example"`, `"{env.HOME}"`, 1),
		"an escaped placeholder":        strings.Replace(seedPasskeyBody, `"Example"`, `"\u007benv.HOME\u007d"`, 1),
		"no rp_id":                      strings.Replace(seedPasskeyBody, `"rp_id":"example.com",`, ``, 1),
		"no origins":                    strings.Replace(seedPasskeyBody, `["https://example.com","https://app.example.com"]`, `[]`, 1),
		"an origin of another site":     strings.Replace(seedPasskeyBody, `https://app.example.com`, `https://example.org`, 1),
		"an origin with a path":         strings.Replace(seedPasskeyBody, `https://app.example.com`, `https://app.example.com/x`, 1),
		"a string for a boolean":        strings.Replace(seedPasskeyBody, `"login_enabled":false`, `"login_enabled":"no"`, 1),
		"granted scopes":                strings.Replace(seedPasskeyBody, `"login_enabled":false`, `"granted_scopes":["admin"]`, 1),
		"an allow-list, no attestation": strings.Replace(seedPasskeyBody, `"login_enabled":false`, `"aaguid_allowlist":["ee882879-721c-4913-9775-3dfcce97072a"]`, 1),
		"unknown user verification":     strings.Replace(seedPasskeyBody, `"required"`, `"always"`, 1),
	} {
		held := &heldConfig{doc: `{"issuer":"https://example.com"}`}
		_, err := (&management{app: app, config: held, now: time.Now}).Change(context.Background(), adminapi.PasskeyConfig, []byte(body))
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Kind != apierror.BadRequest || len(held.posts) != 0 {
			t.Errorf("%s: %v, %d posts", name, err, len(held.posts))
		}
	}
	// The app's acr rules hold for the block it would make: a gateway
	// without an otp sender has no built-in enrolment step-up.
	bare := &App{Config: appconfig.Config{Issuer: "https://example.com", Passkey: &appconfig.PasskeyConfig{}, Scopes: map[string]*appconfig.Scope{}}}
	bare.Scopes["prld:passkey:write"] = &appconfig.Scope{Delegated: "https://backend.example.com/hooks/stepup"}
	bare.setDefaults()
	noSender := &App{Config: appconfig.Config{Issuer: "https://example.com"}}
	noSender.setDefaults()
	held := &heldConfig{doc: `{}`}
	if _, err := (&management{app: noSender, config: held, now: time.Now}).Change(context.Background(), adminapi.PasskeyConfig,
		[]byte(seedPasskeyBody)); err == nil || !strings.Contains(err.Error(), "otp sender") || len(held.posts) != 0 {
		t.Errorf("passkeys without a way to enrol: %v", err)
	}
	if _, err := (&management{app: bare, config: held, now: time.Now}).Change(context.Background(), adminapi.PasskeyConfig,
		[]byte(seedPasskeyBody)); err != nil {
		t.Errorf("passkeys whose enrolment scope is declared: %v", err)
	}
}
