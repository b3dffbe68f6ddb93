package caddystepup

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

func TestGlobalOptionWebhooks(t *testing.T) {
	got := parseGlobal(t, `stepup {
		issuer https://api.example.com
		webhook_signing_key /etc/stepup/webhooks.pem
		hook_algorithm PS256
		webhooks {
			app_id my-app
			endpoint https://backend.internal/hooks/sessions {
				events user.session.created user.session.revoked
				secret {env.WEBHOOK_SECRET}
			}
			endpoint https://crm.internal/users
			timeout 5s
			max_attempts 6
			backoff 1s 1m
			queue_size 500
			workers 2
			drain_timeout 3s
		}
	}`)
	want := `{"issuer":"https://api.example.com","webhook_signing_key":"/etc/stepup/webhooks.pem","hook_algorithm":"PS256",` +
		`"webhooks":{"app_id":"my-app","endpoints":[{"url":"https://backend.internal/hooks/sessions","events":["user.session.created","user.session.revoked"],"secret":"{env.WEBHOOK_SECRET}"},` +
		`{"url":"https://crm.internal/users"}],"timeout":5000000000,"max_attempts":6,"backoff":1000000000,"max_backoff":60000000000,` +
		`"queue_size":500,"workers":2,"drain_timeout":3000000000}}`
	if got != want {
		t.Errorf("adapted JSON:\n got %s\nwant %s", got, want)
	}
	if got := parseGlobal(t, "stepup {\n webhooks {\n endpoint https://b.test/h\n backoff 2s\n }\n}"); got != `{"webhooks":{"endpoints":[{"url":"https://b.test/h"}],"backoff":2000000000}}` {
		t.Errorf("one backoff: %s", got)
	}
}

func TestGlobalOptionWebhooksErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, wantErr string }{
		{"no endpoint", "stepup {\n webhooks {\n timeout 5s\n }\n}", "at least one endpoint"},
		{"endpoint without URL", "stepup {\n webhooks {\n endpoint\n }\n}", "wrong argument count"},
		{"two URLs on one line", "stepup {\n webhooks {\n endpoint https://a https://b\n }\n}", "wrong argument count"},
		{"unknown option", "stepup {\n webhooks {\n endpoint https://a\n retries 3\n }\n}", "unrecognized webhooks option 'retries'"},
		{"unknown endpoint option", "stepup {\n webhooks {\n endpoint https://a {\n event user.created\n }\n }\n}", "unrecognized webhook endpoint option 'event'"},
		{"events empty", "stepup {\n webhooks {\n endpoint https://a {\n events\n }\n }\n}", "wrong argument count"},
		{"secret twice", "stepup {\n webhooks {\n endpoint https://a {\n secret aaaaaaaaaaaaaaaa\n secret bbbbbbbbbbbbbbbb\n }\n }\n}", "secret already specified"},
		{"backoff of three", "stepup {\n webhooks {\n endpoint https://a\n backoff 1s 2s 3s\n }\n}", "backoff <initial> [<max>]"},
		{"backoff zero", "stepup {\n webhooks {\n endpoint https://a\n backoff 0s\n }\n}", "positive duration"},
		{"max_attempts not a number", "stepup {\n webhooks {\n endpoint https://a\n max_attempts many\n }\n}", "not a positive number"},
		{"workers zero", "stepup {\n webhooks {\n endpoint https://a\n workers 0\n }\n}", "not a positive number"},
		{"timeout twice", "stepup {\n webhooks {\n endpoint https://a\n timeout 1s\n timeout 2s\n }\n}", "timeout already specified"},
		{"app_id twice", "stepup {\n webhooks {\n endpoint https://a\n app_id a\n app_id b\n }\n}", "app_id already specified"},
		{"webhooks twice", "stepup {\n webhooks {\n endpoint https://a\n }\n webhooks {\n endpoint https://b\n }\n}", "webhooks already specified"},
		{"webhooks with an argument", "stepup {\n webhooks https://a {\n endpoint https://a\n }\n}", "wrong argument count"},
		{"hook_algorithm twice", "stepup {\n hook_algorithm PS256\n hook_algorithm ES256\n}", "hook_algorithm already specified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseGlobalOption(caddyfile.NewTestDispenser(tc.input), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestWebhookDefaults: the app_id is the issuer's, and the dispatcher's
// settings take the defaults the README promises (webhooks.Options).
func TestWebhookDefaults(t *testing.T) {
	a := &App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksTo("https://b.test/h")}}
	if err := validated(a); err != nil {
		t.Fatal(err)
	}
	w := a.Webhooks.Options().WithDefaults()
	if a.HookAlgorithm != "ES256" || w.AppID != "https://gw.test" || w.Timeout != 10*time.Second || w.MaxAttempts != 10 ||
		w.Backoff != 5*time.Second || w.MaxBackoff != 10*time.Minute || w.QueueSize != 10000 ||
		w.Workers != 4 || w.DrainTimeout != 5*time.Second {
		t.Errorf("defaults: hook %s, webhooks %+v", a.HookAlgorithm, w)
	}
	// A backoff above the default bound raises the bound to it.
	a = &App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Backoff = appconfig.Duration(time.Hour) })}}
	if err := validated(a); err != nil || a.Webhooks.Options().WithDefaults().MaxBackoff != time.Hour {
		t.Errorf("backoff 1h: %v, max_backoff %s", err, a.Webhooks.Options().WithDefaults().MaxBackoff)
	}
	// The dispatcher gets the settings as they are.
	o := (&appconfig.WebhooksConfig{AppID: "a", Endpoints: []*appconfig.WebhookEndpoint{{URL: "https://b.test/h", Events: []string{"user.created"}, Secret: "s"}},
		Timeout: appconfig.Duration(time.Second), MaxAttempts: 3, Backoff: appconfig.Duration(time.Second), MaxBackoff: appconfig.Duration(time.Minute),
		QueueSize: 7, Workers: 2, DrainTimeout: appconfig.Duration(time.Second)}).Options()
	if o.AppID != "a" || len(o.Endpoints) != 1 || string(o.Endpoints[0].Secret) != "s" || o.Endpoints[0].Events[0] != "user.created" ||
		o.MaxAttempts != 3 || o.QueueSize != 7 || o.Workers != 2 || o.MaxBackoff != time.Minute || o.Timeout != time.Second {
		t.Errorf("options %+v", o)
	}
	if _, err := webhooks.New(o); err == nil {
		t.Error("the dispatcher took options without a signer") // the shell adds the key at Start
	}
}

// TestWebhookSecretResolvedToNothing: a secret written as a placeholder
// of an unset variable is refused at load, never sent without its HMAC.
func TestWebhookSecretResolvedToNothing(t *testing.T) {
	a := &App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) {
		w.Endpoints[0].Secret = "{env.STEPUP_TEST_UNSET_WEBHOOK_SECRET}"
	})}}
	a.resolvePlaceholders(caddy.NewReplacer())
	if err := validated(a); err == nil || !strings.Contains(err.Error(), "resolved to nothing") || strings.Contains(err.Error(), "STEPUP_TEST") {
		t.Fatalf("Validate = %v", err)
	}
	t.Setenv("STEPUP_TEST_SET_WEBHOOK_SECRET", "a secret of more than 16")
	a = &App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) {
		w.Endpoints[0].Secret = "{env.STEPUP_TEST_SET_WEBHOOK_SECRET}"
	})}}
	a.resolvePlaceholders(caddy.NewReplacer())
	if err := validated(a); err != nil || a.Webhooks.Endpoints[0].Secret != "a secret of more than 16" {
		t.Fatalf("a set variable: %v", err)
	}
}
