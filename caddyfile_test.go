package caddystepup

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
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
		scope payouts:write {
			delegated https://backend.internal/hooks/stepup
			acr urn:stepup:phone
		}
		login_acr urn:stepup:otp
		possession_acr urn:stepup:phone
		possession_acr urn:stepup:hwk
	}`
	got := parseGlobal(t, input)
	want := `{"issuer":"https://api.example.com","audience":"api.example.com","signing_key":"/etc/stepup/es256.pem",` +
		`"access_token_ttl":600000000000,"refresh_token_ttl":86400000000000,"leeway":45000000000,"token_cache_size":500,` +
		`"trust":[{"issuer":"https://idp.example.com","jwks_url":"https://idp.example.com/.well-known/jwks.json","audience":["api","other"],"algorithms":["RS256","PS256"],"types":["JWT"],"refresh_interval":300000000000},` +
		`{"issuer":"https://idp2.example.com","jwks_url":"https://idp2.example.com/keys"}],` +
		`"scopes":{"admin:all":{"block":true},"payouts:write":{"delegated":"https://backend.internal/hooks/stepup","acr":"urn:stepup:phone"},"profile:write":{"direct":{"steps":[{"key":"verify_email","expiration":300000000000},{"key":"kyc_review"}],"granted_for":43200000000000,"grant_mode":"session-bound"}},"transfer:write":{"delegated":"https://backend.internal/hooks/stepup"}},` +
		`"login_acr":"urn:stepup:otp","possession_acr":["urn:stepup:phone","urn:stepup:hwk"]}`
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

func TestGlobalOptionStripHeaders(t *testing.T) {
	for input, want := range map[string]string{
		"stepup {\n strip_headers X-Tenant* X-Role\n}":           `{"strip_headers":["X-Tenant*","X-Role"]}`,
		"stepup {\n strip_headers off\n}":                        `{"strip_headers_off":true}`,
		"stepup {\n strip_headers off\n strip_headers X-Role\n}": `{"strip_headers":["X-Role"],"strip_headers_off":true}`,
		"stepup {\n dpop_algorithms ES256 EdDSA\n}":              `{"dpop_algorithms":["ES256","EdDSA"]}`,
	} {
		if got := parseGlobal(t, input); got != want {
			t.Errorf("%q: got %s, want %s", input, got, want)
		}
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
		{"wait_replicas zero", "stepup {\n store redis redis://r:6379 {\n wait_replicas 0\n }\n}", "replica count"},
		{"wait_replicas not a number", "stepup {\n store redis redis://r:6379 {\n wait_replicas one\n }\n}", "replica count"},
		{"wait_replicas bad timeout", "stepup {\n store redis redis://r:6379 {\n wait_replicas 1 soon\n }\n}", "positive duration"},
		{"wait_replicas too many args", "stepup {\n store redis redis://r:6379 {\n wait_replicas 1 1s 2\n }\n}", "wait_replicas <count>"},
		{"max_clock_offset not a duration", "stepup {\n store redis redis://r:6379 {\n max_clock_offset soon\n }\n}", "max_clock_offset"},
		{"max_clock_offset without a value", "stepup {\n store redis redis://r:6379 {\n max_clock_offset\n }\n}", "wrong argument count"},
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
		{"direct without steps", "stepup {\n scope a {\n direct {\n granted_for 5m\n }\n }\n}", "direct: at least one step"},
		{"direct bad grant mode", "stepup {\n scope a {\n direct {\n step verify_sms\n grant_mode forever\n }\n }\n}", "grant_mode must be"},
		{"direct bad step", "stepup {\n scope a {\n direct {\n step\n }\n }\n}", "step <key> [<expiration>]"},
		{"strip_headers empty", "stepup {\n strip_headers\n}", "wrong argument count"},
		{"dpop_algorithms empty", "stepup {\n dpop_algorithms\n}", "wrong argument count"},
		{"passkey twice", "stepup {\n passkey {\n }\n passkey {\n }\n}", "passkey already specified"},
		{"passkey argument", "stepup {\n passkey localhost {\n }\n}", "wrong argument count"},
		{"passkey unknown word", "stepup {\n passkey {\n rpid localhost\n }\n}", "unrecognized passkey option 'rpid'"},
		{"passkey rp_id twice", "stepup {\n passkey {\n rp_id a\n rp_id b\n }\n}", "rp_id already specified"},
		{"passkey origins empty", "stepup {\n passkey {\n allowed_origins\n }\n}", "wrong argument count"},
		{"revocation twice", "stepup {\n revocation {\n }\n revocation {\n }\n}", "revocation already specified"},
		{"revocation argument", "stepup {\n revocation on {\n }\n}", "wrong argument count"},
		{"revocation unknown word", "stepup {\n revocation {\n poll 1s\n }\n}", "unrecognized revocation option 'poll'"},
		{"revocation poll not a duration", "stepup {\n revocation {\n poll_interval often\n }\n}", "poll_interval"},
		{"revocation entries zero", "stepup {\n revocation {\n max_entries 0\n }\n}", "max_entries"},
		{"trust max_token_lifetime not a duration", "stepup {\n trust https://idp {\n jwks_url https://x\n max_token_lifetime long\n }\n}", "max_token_lifetime"},
		{"passkey login_enabled with a value", "stepup {\n passkey {\n login_enabled false\n }\n}", "wrong argument count"},
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
		{"body limit and nonce", "stepup {\n body_limit 64KiB\n dpop_nonce\n}", `{"body_limit":65536,"dpop_nonce":true}`},
		{"dpop required", "stepup {\n dpop_required\n}", `{"dpop_required":true}`},
		{"body limit in bytes", "stepup {\n body_limit 1000\n}", `{"body_limit":1000}`},
		{"acr and max_age", "stepup payouts:write {\n acr urn:stepup:otp urn:stepup:hwk\n acr 0\n max_age 5m\n}",
			`{"scopes":["payouts:write"],"acr":["urn:stepup:otp","urn:stepup:hwk","0"],"max_age":300000000000}`},
		{"resource", "stepup payments:write {\n resource https://api.example.com/payments\n}",
			`{"scopes":["payments:write"],"resource":"https://api.example.com/payments"}`},
		{"authorization_details", "stepup {\n authorization_details payment_initiation {\n actions initiate\n match instructedAmount.amount amount\n match creditorAccount.iban\n }\n authorization_details account_information\n}",
			`{"authorization_details":[{"type":"payment_initiation","actions":["initiate"],"match":[{"detail":"instructedAmount.amount","body":"amount"},{"detail":"creditorAccount.iban"}]},{"type":"account_information"}]}`},
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
		{"body limit zero", "stepup {\n body_limit 0\n}", "body_limit"},
		{"body limit not a size", "stepup {\n body_limit lots\n}", "body_limit"},
		{"body limit negative", "stepup {\n body_limit -1\n}", "body_limit"},
		{"dpop_nonce with argument", "stepup {\n dpop_nonce yes\n}", "wrong argument count"},
		{"dpop_required with argument", "stepup {\n dpop_required yes\n}", "wrong argument count"},
		{"acr without values", "stepup {\n acr\n}", "wrong argument count"},
		{"max_age without a value", "stepup {\n max_age\n}", "wrong argument count"},
		{"max_age not a duration", "stepup {\n max_age soon\n}", "max_age"},
		{"max_age twice the arguments", "stepup {\n max_age 5m 10m\n}", "wrong argument count"},
		{"resource without a value", "stepup {\n resource\n}", "wrong argument count"},
		{"two resources", "stepup {\n resource https://a.test https://b.test\n}", "wrong argument count"},
		{"authorization_details without a type", "stepup {\n authorization_details {\n actions a\n }\n}", "wrong argument count"},
		{"authorization_details with two types", "stepup {\n authorization_details a b\n}", "wrong argument count"},
		{"match without a path", "stepup {\n authorization_details a {\n match\n }\n}", "match <detail.path>"},
		{"match with three paths", "stepup {\n authorization_details a {\n match x y z\n }\n}", "match <detail.path>"},
		{"actions without values", "stepup {\n authorization_details a {\n actions\n }\n}", "wrong argument count"},
		{"unknown details option", "stepup {\n authorization_details a {\n location x\n }\n}", "unrecognized authorization_details option 'location'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStepupDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestMetadataDirective(t *testing.T) {
	h, err := parseMetadataDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(`stepup_metadata {
	authorization_servers https://idp.example.com https://login.example.com
	resource_name "Payments API"
	resource_documentation https://docs.example.com/payments
	resource_policy_uri https://example.com/policy
	resource_tos_uri https://example.com/tos
}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"authorization_servers":["https://idp.example.com","https://login.example.com"],"resource_name":"Payments API",` +
		`"resource_documentation":"https://docs.example.com/payments","resource_policy_uri":"https://example.com/policy","resource_tos_uri":"https://example.com/tos"}`
	if got, _ := json.Marshal(h); string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for input, wantErr := range map[string]string{
		"stepup_metadata https://api.example.com":        "wrong argument count",
		"stepup_metadata {\n authorization_servers\n}":   "wrong argument count",
		"stepup_metadata {\n resource_name a b\n}":       "wrong argument count",
		"stepup_metadata {\n resource https://a.test\n}": "unrecognized stepup_metadata option 'resource'",
		"stepup_metadata {\n signed_metadata yes\n}":     "wrong argument count",
	} {
		if _, err := parseMetadataDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(input)}); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: error %v, want %q", input, err, wantErr)
		}
	}
	h, err = parseMetadataDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("stepup_metadata {\n signed_metadata\n}")})
	if got, _ := json.Marshal(h); err != nil || string(got) != `{"signed_metadata":true}` {
		t.Errorf("signed_metadata: %s %v", got, err)
	}
	if err := h.(*MetadataHandler).checkSigner(&App{}); err == nil || !strings.Contains(err.Error(), "set the stepup app's issuer") {
		t.Errorf("signed_metadata without an issuer: %v", err)
	}
	if err := h.(*MetadataHandler).checkSigner(&App{Config: appconfig.Config{Issuer: "https://api.example.com"}}); err != nil {
		t.Errorf("signed_metadata with an issuer: %v", err)
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

func TestGlobalOptionLoginPassword(t *testing.T) {
	got := parseGlobal(t, `stepup {
		login otp phone_number
		login password {
			min_length 12
			max_length 64
			uppercase
			numbers 2
			symbols 0
			argon2id 2 64MiB 1
			concurrent_hashes 3
			acr urn:example:pwd
		}
	}`)
	want := `{"login":{"otp":["phone_number"],"password":{"min_length":12,"max_length":64,"uppercase":1,"numbers":2,` +
		`"argon2id":{"time":2,"memory_kib":65536,"threads":1},"concurrent_hashes":3,"acr":"urn:example:pwd"}}}`
	if got != want {
		t.Errorf("adapted JSON:\n got %s\nwant %s", got, want)
	}
}

func TestGlobalOptionLimits(t *testing.T) {
	got := parseGlobal(t, `stepup {
		limits {
			client_unproven_sends 30 1h
			client_destination_sends 2 30m
			client_sends 5000 1h
			client_unfinished_logins 20 10m
			client_login_starts 4000 1h
			login_starts 900 1m
			sends 800 1m
		}
	}`)
	want := `{"limits":{"client_unproven_sends":{"count":30,"window":3600000000000},` +
		`"client_destination_sends":{"count":2,"window":1800000000000},"client_sends":{"count":5000,"window":3600000000000},` +
		`"client_unfinished_logins":{"count":20,"window":600000000000},"client_login_starts":{"count":4000,"window":3600000000000},` +
		`"login_starts":{"count":900,"window":60000000000},"sends":{"count":800,"window":60000000000}}}`
	if got != want {
		t.Errorf("adapted JSON:\n got %s\nwant %s", got, want)
	}
}

func TestGlobalOptionLoginOAuth(t *testing.T) {
	got := parseGlobal(t, `stepup {
		login oauth okta {
			issuer https://example.okta.com
			client_id gw
			client_secret {env.OKTA_SECRET}
			scopes openid email
			redirect_uris https://app.example.com/cb https://app.example.com/cb2
			acr urn:example:sso
			acr_map urn:okta:mfa urn:stepup:otp
			acr_map urn:okta:hwk urn:stepup:phone
			trust_verified_identifiers
		}
	}`)
	want := `{"login":{"oauth":{"okta":{"issuer":"https://example.okta.com","client_id":"gw","client_secret":"{env.OKTA_SECRET}",` +
		`"scopes":["openid","email"],"redirect_uris":["https://app.example.com/cb","https://app.example.com/cb2"],"acr":"urn:example:sso",` +
		`"acr_map":{"urn:okta:hwk":"urn:stepup:phone","urn:okta:mfa":"urn:stepup:otp"},"trust_verified_identifiers":true}}}}`
	if got != want {
		t.Errorf("adapted JSON:\n got %s\nwant %s", got, want)
	}
}

func TestGlobalOptionSessionSettings(t *testing.T) {
	got := parseGlobal(t, `stepup {
		issuer https://api.example.com
		store redis redis://127.0.0.1:6379/0 {
			password {env.REDIS_PASSWORD}
			key_prefix gw1:
			timeout 250ms
			wait_replicas 1 100ms
			max_clock_offset 2s
		}
		login otp phone_number email_address
		otp {
			sender webhook https://backend.internal/send-otp {
				secret {env.OTP_SECRET}
				timeout 3s
			}
			digits 8
			ttl 3m
			max_attempts 3
			resend_cooldown 45s
			max_resends 2
			max_per_hour 6
		}
		custom_steps {
			jwks_url https://backend.internal/.well-known/jwks.json
			keys kyc_review call_back
		}
		cors https://app.example.com https://admin.example.com
		external_url https://api.example.com
	}`)
	want := `{"issuer":"https://api.example.com",` +
		`"store":{"backend":"redis","url":"redis://127.0.0.1:6379/0","password":"{env.REDIS_PASSWORD}","key_prefix":"gw1:","timeout":250000000,"wait_replicas":1,"wait_timeout":100000000,"max_clock_offset":2000000000},` +
		`"login":{"otp":["phone_number","email_address"]},` +
		`"otp":{"sender":{"kind":"webhook","url":"https://backend.internal/send-otp","secret":"{env.OTP_SECRET}","timeout":3000000000},"digits":8,"ttl":180000000000,"max_attempts":3,"resend_cooldown":45000000000,"max_resends":2,"max_per_hour":6},` +
		`"custom_steps":{"jwks_url":"https://backend.internal/.well-known/jwks.json","keys":["kyc_review","call_back"]},` +
		`"cors":["https://app.example.com","https://admin.example.com"],"external_url":"https://api.example.com"}`
	if got != want {
		t.Errorf("adapted JSON:\n got %s\nwant %s", got, want)
	}
}

func TestGlobalOptionStoreForms(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"stepup {\n store memory\n}", `{"store":{"backend":"memory"}}`},
		{"stepup {\n store redis {\n cluster 127.0.0.1:7000 127.0.0.1:7001\n }\n}", `{"store":{"backend":"redis","addrs":["127.0.0.1:7000","127.0.0.1:7001"],"cluster":true}}`},
		{"stepup {\n store redis {\n addrs 10.0.0.1:26379 10.0.0.2:26379\n sentinel mymaster\n db 2\n tls\n }\n}", `{"store":{"backend":"redis","addrs":["10.0.0.1:26379","10.0.0.2:26379"],"sentinel_master":"mymaster","db":2,"tls":true}}`},
		{"stepup {\n otp {\n sender log\n }\n}", `{"otp":{"sender":{"kind":"log"}}}`},
		{"stepup {\n otp {\n sender smtp smtp.example.com:587 {\n from no-reply@example.com\n username u\n password {env.P}\n tls tls\n subject Your code\n }\n }\n}",
			`{"otp":{"sender":{"kind":"smtp","addr":"smtp.example.com:587","from":"no-reply@example.com","username":"u","password":"{env.P}","tls":"tls","subject":"Your code"}}}`},
	} {
		if got := parseGlobal(t, tc.input); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.input, got, tc.want)
		}
	}
}

func TestGlobalOptionSessionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, wantErr string
	}{
		{"store unknown backend", "stepup {\n store etcd\n}", "unknown backend 'etcd'"},
		{"store redis without address", "stepup {\n store redis\n}", "needs a URL or addrs"},
		{"store redis url and addrs", "stepup {\n store redis redis://x {\n addrs a:1\n }\n}", "not both"},
		{"store twice", "stepup {\n store memory\n store memory\n}", "store already specified"},
		{"store bad db", "stepup {\n store redis redis://x {\n db two\n }\n}", "not a database number"},
		{"login unknown method", "stepup {\n login webauthn\n}", "unknown method 'webauthn'"},
		{"login password twice", "stepup {\n login password\n login password\n}", "given twice"},
		{"login password argument", "stepup {\n login password strong\n}", "wrong argument count"},
		{"login oauth without a name", "stepup {\n login oauth\n}", "login oauth <provider>"},
		{"login oauth twice", "stepup {\n login oauth okta\n login oauth okta\n}", "given twice"},
		{"login oauth unknown word", "stepup {\n login oauth okta {\n  tenant x\n }\n}", "unrecognized login oauth option 'tenant'"},
		{"acr_map with one value", "stepup {\n login oauth okta {\n  acr_map urn:a\n }\n}", "acr_map <provider-acr> <acr>"},
		{"acr_map twice", "stepup {\n login oauth okta {\n  acr_map urn:a urn:b\n  acr_map urn:a urn:c\n }\n}", "given twice"},
		{"trust_verified_identifiers with a value", "stepup {\n login oauth okta {\n  trust_verified_identifiers yes\n }\n}", "wrong argument count"},
		{"login password unknown word", "stepup {\n login password {\n  entropy 60\n }\n}", "unrecognized login password option 'entropy'"},
		{"login password negative", "stepup {\n login password {\n  min_length -1\n }\n}", "not a count"},
		{"login password argon2id", "stepup {\n login password {\n  argon2id 1 lots 1\n }\n}", "argon2id <time> <memory> <threads>"},
		{"login password no hashes", "stepup {\n login password {\n  concurrent_hashes 0\n }\n}", "concurrent_hashes: at least 1"},
		{"login password hashes word", "stepup {\n login password {\n  concurrent_hashes many\n }\n}", "not a count"},
		{"limits unknown word", "stepup {\n limits {\n  client_codes 5 1h\n }\n}", "unrecognized limits option 'client_codes'"},
		{"limits zero count", "stepup {\n limits {\n  client_unproven_sends 0 1h\n }\n}", "not a positive count"},
		{"limits no window", "stepup {\n limits {\n  client_destination_sends 3\n }\n}", "client_destination_sends <count> <window>"},
		{"login unknown identifier", "stepup {\n login otp username\n}", "unknown identifier type 'username'"},
		{"login without identifiers", "stepup {\n login otp\n}", "needs identifier types"},
		{"sender unknown", "stepup {\n otp {\n sender carrier-pigeon\n }\n}", "unknown sender 'carrier-pigeon'"},
		{"webhook without url", "stepup {\n otp {\n sender webhook\n }\n}", "needs a URL"},
		{"smtp without from", "stepup {\n otp {\n sender smtp mail:25\n }\n}", "needs `from`"},
		{"secret on smtp", "stepup {\n otp {\n sender smtp mail:25 {\n from a@b.c\n secret x\n }\n }\n}", "unrecognized smtp sender option 'secret'"},
		{"digits not a number", "stepup {\n otp {\n digits six\n }\n}", "not a positive number"},
		{"custom steps without jwks", "stepup {\n custom_steps {\n keys a\n }\n}", "needs jwks_url"},
		{"cors without origin", "stepup {\n cors\n}", "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseGlobalOption(caddyfile.NewTestDispenser(tc.input), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestStepupDirectiveBind(t *testing.T) {
	h, err := parseStepupDirective(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("stepup transfer:write {\n bind amount currency\n}")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h)
	if string(got) != `{"scopes":["transfer:write"],"bind":["amount","currency"]}` {
		t.Errorf("got %s", got)
	}
}

func TestGlobalOptionPasskey(t *testing.T) {
	got := parseGlobal(t, `stepup {
		passkey {
			rp_id                  example.com
			rp_name                "Example Bank"
			allowed_origins        https://example.com https://app.example.com
			allowed_origins        android:apk-key-hash:OCPWMiMLxAl8oL5nZy2GqYXgSOUdq0rR8RmRq8u7TAo
			user_verification      preferred
			attestation_preference direct
			login_enabled
			aaguid_allowlist       ee882879-721c-4913-9775-3dfcce97072a
			acr                    phr
			acr_hardware           phrh
		}
	}`)
	want := `{"passkey":{"rp_id":"example.com","rp_name":"Example Bank","allowed_origins":["https://example.com","https://app.example.com",` +
		`"android:apk-key-hash:OCPWMiMLxAl8oL5nZy2GqYXgSOUdq0rR8RmRq8u7TAo"],"user_verification":"preferred","attestation_preference":"direct",` +
		`"login_enabled":true,"aaguid_allowlist":["ee882879-721c-4913-9775-3dfcce97072a"],"acr":"phr","acr_hardware":"phrh"}}`
	if got != want {
		t.Errorf("adapted JSON:\n got %s\nwant %s", got, want)
	}
}
