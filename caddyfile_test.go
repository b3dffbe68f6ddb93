package caddystepup

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestGlobalOptionParsesEveryField(t *testing.T) {
	input := `stepup {
		issuer https://api.example.com
		audience api.example.com
		signing_key /etc/stepup/es256.pem
		access_token_ttl 10m
		refresh_token_ttl 24h
		leeway 45s
		token_cache 500
		trust https://idp.example.com {
			jwks_url https://idp.example.com/.well-known/jwks.json
			audience api other
			algorithms RS256 PS256
			typ JWT
			refresh_interval 5m
		}
		trust https://idp2.example.com {
			jwks_url https://idp2.example.com/keys
		}
		scope transfer:write {
			delegated https://backend.internal/hooks/stepup
		}
		scope profile:write {
			direct {
				step verify_email 5m
				step kyc_review
				granted_for 12h
				grant_mode session-bound
			}
		}
		scope admin:all {
			block
		}
	}`
	got := parseGlobal(t, input)
	want := `{"issuer":"https://api.example.com","audience":"api.example.com","signing_key":"/etc/stepup/es256.pem",` +
		`"access_token_ttl":600000000000,"refresh_token_ttl":86400000000000,"leeway":45000000000,"token_cache_size":500,` +
		`"trust":[{"issuer":"https://idp.example.com","jwks_url":"https://idp.example.com/.well-known/jwks.json","audience":["api","other"],"algorithms":["RS256","PS256"],"types":["JWT"],"refresh_interval":300000000000},` +
		`{"issuer":"https://idp2.example.com","jwks_url":"https://idp2.example.com/keys"}],` +
		`"scopes":{"admin:all":{"block":true},"profile:write":{"direct":{"steps":[{"key":"verify_email","expiration":300000000000},{"key":"kyc_review"}],"granted_for":43200000000000,"grant_mode":"session-bound"}},"transfer:write":{"delegated":"https://backend.internal/hooks/stepup"}}}`
	if got != want {
		t.Errorf("adapted JSON:\n got %s\nwant %s", got, want)
	}
}

func TestGlobalOptionKeepsPlaceholdersForProvision(t *testing.T) {
	got := parseGlobal(t, `stepup {
		issuer {env.STEPUP_ISSUER}
	}`)
	if !strings.Contains(got, `"issuer":"{env.STEPUP_ISSUER}"`) {
		t.Errorf("placeholder resolved at parse time: %s", got)
	}
}

func TestGlobalOptionTokenCacheOff(t *testing.T) {
	got := parseGlobal(t, "stepup {\n token_cache off\n}")
	if got != `{"disable_token_cache":true}` {
		t.Errorf("got %s", got)
	}
}

func TestGlobalOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, wantErr string
	}{
		{"inline argument", "stepup foo {\n}", "wrong argument count"},
		{"unknown option", "stepup {\n issuers x\n}", "unrecognized stepup option 'issuers'"},
		{"issuer twice", "stepup {\n issuer https://a\n issuer https://b\n}", "issuer already specified"},
		{"issuer without value", "stepup {\n issuer\n}", "wrong argument count"},
		{"bad duration", "stepup {\n access_token_ttl soon\n}", "access_token_ttl"},
		{"bad token cache", "stepup {\n token_cache -3\n}", "neither a positive number"},
		{"trust without issuer", "stepup {\n trust {\n jwks_url https://x\n }\n}", "trust needs the issuer"},
		{"trust without jwks_url", "stepup {\n trust https://idp {\n audience a\n }\n}", "jwks_url is required"},
		{"trust unknown option", "stepup {\n trust https://idp {\n jwks https://x\n }\n}", "unrecognized trust option 'jwks'"},
		{"scope without name", "stepup {\n scope\n}", "wrong argument count"},
		{"scope twice", "stepup {\n scope a {\n block\n }\n scope a {\n block\n }\n}", "scope a already specified"},
		{"scope empty", "stepup {\n scope a {\n }\n}", "exactly one of delegated, direct or block"},
		{"scope two modes", "stepup {\n scope a {\n block\n delegated https://h\n }\n}", "exactly one of delegated, direct or block"},
		{"direct without steps", "stepup {\n scope a {\n direct {\n granted_for 5m\n }\n }\n}", "direct needs at least one step"},
		{"direct bad grant mode", "stepup {\n scope a {\n direct {\n step verify_sms\n grant_mode forever\n }\n }\n}", "grant_mode must be"},
		{"direct bad step", "stepup {\n scope a {\n direct {\n step\n }\n }\n}", "step <key> [<expiration>]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseGlobalOption(caddyfile.NewTestDispenser(tc.input), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("error %q does not say where in the Caddyfile", err)
			}
		})
	}
}

func TestStepupDirective(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"no scope", "stepup", `{}`},
		{"scopes", "stepup transfer:write payments:read", `{"scopes":["transfer:write","payments:read"]}`},
		{"block", "stepup a b {\n any\n realm api\n header sub X-User\n header grant X-Grant-Id\n}",
			`{"scopes":["a","b"],"any":true,"realm":"api","headers":{"subject":"X-User","grant":"X-Grant-Id"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseStepupDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(h)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStepupDirectiveErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, wantErr string
	}{
		{"unknown option", "stepup a {\n anyone\n}", "unrecognized stepup option 'anyone'"},
		{"any with argument", "stepup a b {\n any yes\n}", "wrong argument count"},
		{"header unknown field", "stepup {\n header user X-U\n}", "unknown field 'user'"},
		{"header missing name", "stepup {\n header sub\n}", "header sub|scope|sid|grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStepupDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSessionDirectiveTakesNoArguments(t *testing.T) {
	if _, err := parseSessionDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("stepup_session extra")}); err == nil {
		t.Fatal("stepup_session accepted an argument")
	}
	if _, err := parseSessionDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("stepup_session")}); err != nil {
		t.Fatal(err)
	}
}

func parseGlobal(t *testing.T, input string) string {
	t.Helper()
	v, err := parseGlobalOption(caddyfile.NewTestDispenser(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(v.(httpcaddyfile.App).Value)
}
