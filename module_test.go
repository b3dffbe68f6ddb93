package caddystepup

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/stepup"
)

// validated runs the app's checks as Caddy does: after Provision filled in
// the defaults.
func validated(a *App) error {
	a.setDefaults()
	return a.Validate()
}

func TestValidateRefusesKeySetsOverPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  *App
		want string
	}{
		{"trust off loopback", &App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: "http://idp.example.com/jwks"}}}}, "must use https"},
		{"a name that starts like a loopback address", &App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: "http://127.attacker.example/jwks"}}}}, "must use https"},
		{"a name that ends like one", &App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: "http://attacker.example.127.0.0.1.nip.io/jwks"}}}}, "must use https"},
		{"localhost as a subdomain", &App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: "http://localhost.attacker.example/jwks"}}}}, "must use https"},
		{"custom steps off loopback", &App{Config: appconfig.Config{CustomSteps: &appconfig.CustomStepsConfig{JWKSURL: "http://backend.example.com/jwks"}}}, "custom_steps: jwks_url"},
		{"custom steps not a URL", &App{Config: appconfig.Config{CustomSteps: &appconfig.CustomStepsConfig{JWKSURL: "jwks.json"}}}, "not an absolute URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validated(tc.app)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, u := range []string{"http://127.0.0.1:9/jwks.json", "http://127.12.0.3/jwks", "http://[::1]:9/jwks", "http://localhost:9/jwks", "https://idp.example.com/jwks"} {
		if err := validated(&App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: u}}}}); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

// TestValidateChecksEveryField: what used to load and then fail at every
// request is refused at load.
func TestValidateChecksEveryField(t *testing.T) {
	direct := func(d *appconfig.DirectScope) *App {
		return &App{Config: appconfig.Config{Issuer: "https://gw.test", Scopes: map[string]*appconfig.Scope{"mail:write": {Direct: d}}}}
	}
	for name, tc := range map[string]struct {
		app  *App
		want string
	}{
		"unknown step key":                  {direct(&appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_mail"}}}), `step "verify_mail" is neither`},
		"custom step not configured":        {direct(&appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "kyc_review"}}}), `step "kyc_review"`},
		"sub-second granted_for":            {direct(&appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms"}}, GrantedFor: appconfig.Duration(500 * time.Millisecond)}), "granted_for"},
		"sub-second step expiration":        {direct(&appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms", Expiration: appconfig.Duration(time.Millisecond)}}}), "expiration"},
		"scopes without issuer":             {&App{Config: appconfig.Config{Scopes: map[string]*appconfig.Scope{"a": {Block: true}}}}, "need `issuer`"},
		"delegated not a URL":               {&App{Config: appconfig.Config{Issuer: "https://gw.test", Scopes: map[string]*appconfig.Scope{"a": {Delegated: "hooks/stepup"}}}}, "delegated"},
		"custom step named like a built-in": {&App{Config: appconfig.Config{Issuer: "https://gw.test", CustomSteps: &appconfig.CustomStepsConfig{JWKSURL: "https://b.test/jwks", Keys: []string{"verify_sms"}}}}, "runs this step itself"},
		"external_url not a URL":            {&App{Config: appconfig.Config{Issuer: "https://gw.test", ExternalURL: "gw.test"}}, "external_url"},
		"unknown store":                     {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{Backend: "etcd"}}}, "unknown backend"},
		"store key prefix":                  {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{Backend: "redis", URL: "redis://127.0.0.1:1", KeyPrefix: "a{b}"}}}, "key_prefix"},
		"redis without address":             {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{Backend: "redis"}}}, "store"},
		"wait on the memory store":          {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{WaitReplicas: 1}}}, "wait_replicas"},
		"wait as long as the timeout":       {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{Backend: "redis", URL: "redis://127.0.0.1:1", WaitReplicas: 1, WaitTimeout: appconfig.Duration(time.Second), Timeout: appconfig.Duration(time.Second)}}}, "shorter than"},
		"negative wait":                     {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{Backend: "redis", URL: "redis://127.0.0.1:1", WaitReplicas: -1}}}, "wait_replicas"},
		"clock bound on the memory store":   {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{MaxClockOffset: appconfig.Duration(time.Second)}}}, "max_clock_offset"},
		"clock bound over an hour":          {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{Backend: "redis", URL: "redis://127.0.0.1:1", MaxClockOffset: appconfig.Duration(2 * time.Hour)}}}, "max_clock_offset"},
		"negative clock bound":              {&App{Config: appconfig.Config{Store: &appconfig.StoreConfig{Backend: "redis", URL: "redis://127.0.0.1:1", MaxClockOffset: appconfig.Duration(-time.Second)}}}, "max_clock_offset"},
		"unknown sender":                    {&App{Config: appconfig.Config{OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "fax"}}}}, "unknown kind"},
		"webhook not a URL":                 {&App{Config: appconfig.Config{OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "webhook", URL: "backend/send"}}}}, "webhook"},
		"sub-second access tokens":          {&App{Config: appconfig.Config{AccessTokenTTL: appconfig.Duration(time.Millisecond)}}, "access_token_ttl"},
		"trust algorithm HS256":             {&App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: "https://idp/jwks", Algorithms: []string{"HS256"}}}}}, "HS256"},
		"login_acr with a space":            {&App{Config: appconfig.Config{LoginACR: "urn:a b"}}, "printable ASCII"},
		"password without issuer":           {&App{Config: appconfig.Config{Login: &appconfig.LoginConfig{Password: &appconfig.PasswordConfig{}}, OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}}}}, "needs `issuer`"},
		"password without sender":           {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{Password: &appconfig.PasswordConfig{}}}}, "otp sender"},
		"password max below min":            {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{Password: &appconfig.PasswordConfig{MinLength: 20, MaxLength: 10}}, OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}}}}, "password policy"},
		"password threads 257":              {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{Password: &appconfig.PasswordConfig{Argon2id: &appconfig.Argon2idConfig{Time: 1, MemoryKiB: 65536, Threads: 257}}}, OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}}}}, "argon2id"},
		"password 257 hashes at once":       {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{Password: &appconfig.PasswordConfig{ConcurrentHashes: 257}}, OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}}}}, "concurrent_hashes"},
		"unproven sends per 0s":             {&App{Config: appconfig.Config{Limits: &appconfig.LimitsConfig{ClientUnprovenSends: &appconfig.RateConfig{Count: 1}}}}, "client_unproven_sends"},
		"no sends to a destination":         {&App{Config: appconfig.Config{Limits: &appconfig.LimitsConfig{ClientDestinationSends: &appconfig.RateConfig{Window: appconfig.Duration(time.Hour)}}}}, "client_destination_sends"},
		"unfinished logins per ms":          {&App{Config: appconfig.Config{Limits: &appconfig.LimitsConfig{ClientUnfinishedLogins: &appconfig.RateConfig{Count: 5, Window: appconfig.Duration(time.Millisecond)}}}}, "client_unfinished_logins"},
		"password memory 1 MiB":             {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{Password: &appconfig.PasswordConfig{Argon2id: &appconfig.Argon2idConfig{Time: 1, MemoryKiB: 1024, Threads: 1}}}, OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}}}}, "argon2id"},
		"oauth without client_id":           {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test"}}}}}, "client_id"},
		"oauth http issuer":                 {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "http://idp.test", ClientID: "c"}}}}}, "issuer"},
		"oauth bad name":                    {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"ok ta": {Issuer: "https://idp.test", ClientID: "c"}}}}}, "name"},
		"oauth relative redirect":           {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", RedirectURIs: []string{"/cb"}}}}}}, "redirect_uris"},
		"oauth without redirect_uris":       {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c"}}}}}, "redirect_uris is required"},
		"oauth redirect with a fragment":    {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", RedirectURIs: []string{"https://app.test/cb#"}}}}}}, "fragment"},
		"oauth redirect with user info":     {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", RedirectURIs: []string{"https://u@app.test/cb"}}}}}}, "user info"},
		"oauth plain http redirect":         {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", RedirectURIs: []string{"http://app.test/cb"}}}}}}, "https"},
		"oauth scheme-relative redirect":    {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", RedirectURIs: []string{"//evil.example/"}}}}}}, "redirect_uris"},
		"oauth acr_map with a space":        {&App{Config: appconfig.Config{Issuer: "https://gw.test", Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", RedirectURIs: []string{"https://app.test/cb"}, ACRMap: map[string]string{"urn:a": "urn:b c"}}}}}}, "acr_map"},
		"oauth without gateway issuer":      {&App{Config: appconfig.Config{Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c"}}}}}, "needs `issuer`"},
		"password acr possession":           {&App{Config: appconfig.Config{Issuer: "https://gw.test", PossessionACR: []string{"urn:p"}, Login: &appconfig.LoginConfig{Password: &appconfig.PasswordConfig{ACR: "urn:p"}}, OTP: &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}}}}, "never earns"},
		"scope acr with a quote":            {&App{Config: appconfig.Config{Issuer: "https://gw.test", Scopes: map[string]*appconfig.Scope{"a": {Block: true, ACR: `x"`}}}}, "printable ASCII"},
		"possession acr, email login":       {&App{Config: appconfig.Config{PossessionACR: []string{stepup.DefaultLoginACR}, Login: &appconfig.LoginConfig{OTP: []string{"email_address"}}}}, "email login never earns"},
		"possession acr, email steps":       {&App{Config: appconfig.Config{Issuer: "https://gw.test", PossessionACR: []string{"urn:p"}, Scopes: map[string]*appconfig.Scope{"mail:write": {ACR: "urn:p", Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_email"}}}}}}}, "proves possession"},
		"hook_algorithm RS256":              {&App{Config: appconfig.Config{Issuer: "https://gw.test", HookAlgorithm: "RS256"}}, "hook_algorithm"},
		"webhooks without issuer":           {&App{Config: appconfig.Config{Webhooks: webhooksTo("https://b.test/h")}}, "need `issuer`"},
		"webhooks without endpoint":         {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: &appconfig.WebhooksConfig{}}}, "at least one endpoint"},
		"webhook over plain http":           {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksTo("http://b.test/h")}}, "must use https"},
		"webhook to a name like loopback":   {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksTo("http://127.attacker.example/h")}}, "must use https"},
		"webhook endpoint not a URL":        {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksTo("hooks/users")}}, "not an absolute URL"},
		"webhook to one URL twice":          {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksTo("https://b.test/h", "https://b.test/h")}}, "same URL twice"},
		"webhook unknown event":             {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Endpoints[0].Events = []string{"user.deleted"} })}}, "unknown event"},
		"webhook engine event name":         {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Endpoints[0].Events = []string{"session.revoked"} })}}, "unknown event"},
		"webhook event twice":               {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Endpoints[0].Events = []string{"user.created", "user.created"} })}}, "listed twice"},
		"webhook secret of 15":              {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Endpoints[0].Secret = strings.Repeat("s", 15) })}}, "at least 16"},
		"webhook timeout 500ms":             {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Timeout = appconfig.Duration(500 * time.Millisecond) })}}, "timeout"},
		"webhook timeout 2m":                {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Timeout = appconfig.Duration(2 * time.Minute) })}}, "timeout"},
		"webhook 101 attempts":              {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.MaxAttempts = 101 })}}, "max_attempts"},
		"webhook negative attempts":         {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.MaxAttempts = -1 })}}, "max_attempts"},
		"webhook backoff 1ms":               {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Backoff = appconfig.Duration(time.Millisecond) })}}, "backoff"},
		"webhook max_backoff below backoff": {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) {
			w.Backoff, w.MaxBackoff = appconfig.Duration(time.Minute), appconfig.Duration(time.Second)
		})}}, "max_backoff"},
		"webhook max_backoff 25h":            {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.MaxBackoff = appconfig.Duration(25 * time.Hour) })}}, "max_backoff"},
		"webhook queue of 2 million":         {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.QueueSize = 2_000_000 })}}, "queue_size"},
		"webhook negative queue":             {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.QueueSize = -1 })}}, "queue_size"},
		"webhook 65 workers":                 {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.Workers = 65 })}}, "workers"},
		"webhook drain of 2m":                {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.DrainTimeout = appconfig.Duration(2 * time.Minute) })}}, "drain_timeout"},
		"webhook app_id of 129":              {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) { w.AppID = strings.Repeat("a", 129) })}}, "app_id"},
		"webhook endpoint nil":               {&App{Config: appconfig.Config{Issuer: "https://gw.test", Webhooks: &appconfig.WebhooksConfig{Endpoints: []*appconfig.WebhookEndpoint{nil}}}}, "url is required"},
		"revocation poll of 1ms":             {&App{Config: appconfig.Config{Revocation: &appconfig.RevocationConfig{PollInterval: appconfig.Duration(time.Millisecond)}}}, "poll_interval"},
		"revocation poll of 2m":              {&App{Config: appconfig.Config{Revocation: &appconfig.RevocationConfig{PollInterval: appconfig.Duration(2 * time.Minute)}}}, "poll_interval"},
		"revocation staleness below 2 polls": {&App{Config: appconfig.Config{Revocation: &appconfig.RevocationConfig{PollInterval: appconfig.Duration(time.Second), MaxStaleness: appconfig.Duration(1500 * time.Millisecond)}}}, "max_staleness"},
		"revocation staleness of 2h":         {&App{Config: appconfig.Config{Revocation: &appconfig.RevocationConfig{MaxStaleness: appconfig.Duration(2 * time.Hour)}}}, "max_staleness"},
		"revocation negative entries":        {&App{Config: appconfig.Config{Revocation: &appconfig.RevocationConfig{MaxEntries: -1}}}, "max_entries"},
		"trust token lifetime of 100 days":   {&App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: "https://idp/jwks", MaxTokenLifetime: appconfig.Duration(100 * 24 * time.Hour)}}}}, "max_token_lifetime"},
		"trust token lifetime of 90 days and the default leeway": {&App{Config: appconfig.Config{Trust: []*appconfig.Trust{{Issuer: "https://idp", JWKSURL: "https://idp/jwks",
			MaxTokenLifetime: appconfig.Duration(90 * 24 * time.Hour)}}}}, "max_token_lifetime"},
		"verify_passkey without passkey":     {direct(&appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_passkey"}}}), "needs a passkey block"},
		"passkey without issuer":             {&App{Config: appconfig.Config{Passkey: &appconfig.PasskeyConfig{RPID: "gw.test"}, OTP: logSender()}}, "passkey needs `issuer`"},
		"passkey without enrolment step-up":  {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{}}}, "otp sender"},
		"passkey rp_id with a scheme":        {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{RPID: "https://gw.test"}, OTP: logSender()}}, "rp_id"},
		"passkey rp_id an IP address":        {&App{Config: appconfig.Config{Issuer: "https://127.0.0.1", Passkey: &appconfig.PasskeyConfig{}, OTP: logSender()}}, "rp_id"},
		"passkey rp_name too long":           {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{RPName: strings.Repeat("n", 65)}, OTP: logSender()}}, "rp_name"},
		"passkey origin of another site":     {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{AllowedOrigins: []string{"https://evil.test"}}, OTP: logSender()}}, "allowed_origins"},
		"passkey origin in upper case":       {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{AllowedOrigins: []string{"https://GW.test"}}, OTP: logSender()}}, "allowed_origins"},
		"passkey android origin too short":   {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{AllowedOrigins: []string{"android:apk-key-hash:abc"}}, OTP: logSender()}}, "Android origin"},
		"passkey user_verification":          {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{UserVerification: "always"}, OTP: logSender()}}, "user_verification"},
		"passkey attestation_preference":     {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{AttestationPreference: "full"}, OTP: logSender()}}, "attestation"},
		"passkey allow-list, no attestation": {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{AAGUIDAllowlist: []string{"ee882879-721c-4913-9775-3dfcce97072a"}}, OTP: logSender()}}, "aaguids"},
		"passkey AAGUID not a UUID":          {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{AttestationPreference: "direct", AAGUIDAllowlist: []string{"yubikey"}}, OTP: logSender()}}, "aaguids"},
		"passkey acr with a space":           {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{ACR: "a b"}, OTP: logSender()}}, "acr"},
		"passkey acr_hardware equal to acr":  {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{ACR: "phr", HardwareACR: "phr"}, OTP: logSender()}}, "must differ"},
		"login acr only a passkey earns":     {&App{Config: appconfig.Config{Issuer: "https://gw.test", LoginACR: "phr", Passkey: &appconfig.PasskeyConfig{ACR: "phr"}, OTP: logSender()}}, "only a passkey earns"},
		"code scope with the passkey acr": {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{ACR: "phr"}, OTP: logSender(),
			Scopes: map[string]*appconfig.Scope{"pay": {ACR: "phr", Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms"}}}}}}}, "only a passkey earns"},
		"oauth acr only a passkey earns": {&App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{HardwareACR: "phrh"}, OTP: logSender(),
			Login: &appconfig.LoginConfig{OAuth: map[string]*appconfig.OAuthConfig{"okta": {Issuer: "https://idp.test", ClientID: "c", RedirectURIs: []string{"https://app.test/cb"}, ACR: "phrh"}}}}}, "only a passkey earns"},
	} {
		t.Run(name, func(t *testing.T) {
			err := validated(tc.app)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	passkeys := &App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{ACR: "phr", HardwareACR: "phrh"}, OTP: logSender(),
		Scopes: map[string]*appconfig.Scope{"pay": {ACR: "phrh", Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms"}, {Key: "verify_passkey"}}}}}}}
	if err := validated(passkeys); err != nil {
		t.Fatalf("a passkey scope: %v", err)
	}
	ok := &App{Config: appconfig.Config{Issuer: "https://gw.test", CustomSteps: &appconfig.CustomStepsConfig{JWKSURL: "https://b.test/jwks", Keys: []string{"kyc_review"}},
		Scopes:        map[string]*appconfig.Scope{"kyc:write": {Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms"}, {Key: "kyc_review"}}}}},
		HookAlgorithm: "PS256", Webhooks: webhooksWith(func(w *appconfig.WebhooksConfig) {
			w.Endpoints = append(w.Endpoints, &appconfig.WebhookEndpoint{URL: "http://127.0.0.1:9/users", Events: []string{"user.created"}, Secret: strings.Repeat("s", 16)})
			w.Backoff, w.MaxBackoff = appconfig.Duration(10*time.Millisecond), appconfig.Duration(10*time.Millisecond)
		})}}
	if err := validated(ok); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
}

// webhooksTo is a webhooks block with an endpoint per URL.
func webhooksTo(urls ...string) *appconfig.WebhooksConfig {
	w := &appconfig.WebhooksConfig{}
	for _, u := range urls {
		w.Endpoints = append(w.Endpoints, &appconfig.WebhookEndpoint{URL: u})
	}
	return w
}

// webhooksWith is a valid webhooks block, changed by change.
func webhooksWith(change func(*appconfig.WebhooksConfig)) *appconfig.WebhooksConfig {
	w := webhooksTo("https://backend.test/hooks/users")
	change(w)
	return w
}

func TestValidateRefusesUnknownDPoPAlgorithmsAndHeaderPatterns(t *testing.T) {
	for _, tc := range []struct {
		app  *App
		want string
	}{
		{&App{Config: appconfig.Config{DPoPAlgorithms: []string{"HS256"}}}, "dpop_algorithms"},
		{&App{Config: appconfig.Config{DPoPAlgorithms: []string{"none"}}}, "dpop_algorithms"},
		{&App{Config: appconfig.Config{StripHeaders: []string{"X Bad"}}}, "strip_headers"},
		{&App{Config: appconfig.Config{StripHeaders: []string{"*"}}}, "strip_headers"},
	} {
		if err := validated(tc.app); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.app, err, tc.want)
		}
	}
	if err := validated(&App{Config: appconfig.Config{DPoPAlgorithms: []string{"ES256", "EdDSA"}, StripHeaders: []string{"X-Tenant*"}}}); err != nil {
		t.Errorf("a valid config: %v", err)
	}
}

func logSender() *appconfig.OTPConfig {
	return &appconfig.OTPConfig{Sender: &appconfig.SenderConfig{Kind: "log"}}
}

// TestPasskeyDefaults: an empty passkey block serves the issuer's origin,
// and declares the enrolment scope with a code to the phone when OTP
// login takes phone numbers, else to the email; a scope block of its own
// replaces it.
func TestPasskeyDefaults(t *testing.T) {
	app := &App{Config: appconfig.Config{Issuer: "https://Gateway.Example.com:8443/api", Passkey: &appconfig.PasskeyConfig{}, OTP: logSender(),
		Login: &appconfig.LoginConfig{OTP: []string{"email_address", "phone_number"}}}}
	if err := validated(app); err != nil {
		t.Fatal(err)
	}
	p, engine := app.Passkey, app.settings.Passkeys
	if p.RPID != "gateway.example.com" || p.RPName != "gateway.example.com" || len(p.AllowedOrigins) != 1 ||
		p.AllowedOrigins[0] != "https://gateway.example.com:8443" || engine.UserVerification != "required" || engine.Attestation != "none" {
		t.Fatalf("defaults: %+v, the engine's %+v", p, engine)
	}
	write, engineWrite := app.Scopes[stepup.PasskeyWriteScope], app.settings.Scopes[stepup.PasskeyWriteScope].Direct
	if write == nil || write.Direct == nil || write.Direct.Steps[0].Key != "verify_sms" || engineWrite.GrantMode != "single-use" ||
		engineWrite.GrantedFor != 5*time.Minute || engineWrite.Steps[0].Expiration != 5*time.Minute {
		t.Fatalf("enrolment scope: %+v, the engine's %+v", write, engineWrite)
	}
	byEmail := &App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{}, OTP: logSender()}}
	if err := validated(byEmail); err != nil || byEmail.Scopes[stepup.PasskeyWriteScope].Direct.Steps[0].Key != "verify_email" {
		t.Fatalf("enrolment scope without phone login: %v %+v", err, byEmail.Scopes[stepup.PasskeyWriteScope])
	}
	own := &App{Config: appconfig.Config{Issuer: "https://gw.test", Passkey: &appconfig.PasskeyConfig{},
		Scopes: map[string]*appconfig.Scope{stepup.PasskeyWriteScope: {Delegated: "https://backend.test/hook"}}}}
	if err := validated(own); err != nil || own.Scopes[stepup.PasskeyWriteScope].Delegated == "" {
		t.Fatalf("an enrolment scope of its own (no otp sender needed): %v", err)
	}
}

// TestRouteHintsForPasskeyScopes: a route requiring the passkey acr names
// the scope whose passkey step earns it.
func TestRouteHintsForPasskeyScopes(t *testing.T) {
	app := &App{Config: appconfig.Config{Issuer: "https://gw.test", LoginACR: "urn:stepup:otp", Passkey: &appconfig.PasskeyConfig{ACR: "phr", HardwareACR: "phrh"},
		Scopes: map[string]*appconfig.Scope{
			"pay":     {Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_passkey"}}}},
			"sms":     {Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_sms"}}}},
			"pay:own": {ACR: "urn:x", Direct: &appconfig.DirectScope{Steps: []appconfig.DirectStep{{Key: "verify_passkey"}}}},
		}}}
	app.setDefaults() // Provision: route hints read the login acr with its default
	for _, tc := range []struct {
		scope string
		acrs  []string
		want  bool
	}{
		{"pay", []string{"phrh"}, true}, {"pay", []string{"phr"}, true}, {"pay", []string{"urn:stepup:otp"}, false},
		{"sms", []string{"phr", "phrh"}, false}, {"sms", []string{"urn:stepup:otp"}, true},
		{"pay:own", []string{"phr"}, false}, {"pay:own", []string{"urn:x"}, true},
	} {
		if got := app.scopeCatalogue().EarnsACR(tc.scope, tc.acrs); got != tc.want {
			t.Errorf("earnsACR(%s, %v) = %v", tc.scope, tc.acrs, got)
		}
	}
}

// TestValidateChecksResourceWords: the metadata handler's words (a
// route's resource is appconfig's TestRouteConfigRules).
func TestValidateChecksResourceWords(t *testing.T) {
	for name, tc := range map[string]struct {
		m       MetadataHandler
		wantErr string
	}{
		"all set":                 {MetadataHandler{AuthorizationServers: []string{"https://idp.example.com"}, Name: "API", Documentation: "https://docs.example.com"}, ""},
		"server not https":        {MetadataHandler{AuthorizationServers: []string{"http://idp.example.com"}}, "authorization_servers"},
		"server not a URL":        {MetadataHandler{AuthorizationServers: []string{"idp"}}, "authorization_servers"},
		"documentation not a URL": {MetadataHandler{Documentation: "docs"}, "resource_documentation"},
		"policy not a URL":        {MetadataHandler{PolicyURI: "javascript:alert(1)"}, "resource_policy_uri"},
		"terms not a URL":         {MetadataHandler{TOSURI: "ftp://x"}, "resource_tos_uri"},
		"a name of two lines":     {MetadataHandler{Name: "a\nb"}, "one line"},
	} {
		if err := tc.m.Validate(); (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want %q", name, err, tc.wantErr)
		}
	}
}

func TestValidateChecksAuthorizationDetails(t *testing.T) {
	app := testApp(t)
	ok := &appconfig.DetailsConfig{Type: "payment_initiation", Actions: []string{"initiate"}, Match: []appconfig.DetailMatch{{Detail: "instructedAmount.amount", Body: "amount"}}}
	for name, tc := range map[string]struct {
		details []*appconfig.DetailsConfig
		mcp     bool
		want    string
	}{
		"the issue's example":       {[]*appconfig.DetailsConfig{ok}, false, ""},
		"a URI type":                {[]*appconfig.DetailsConfig{{Type: "https://example.com/rar/payment"}}, false, ""},
		"no type":                   {[]*appconfig.DetailsConfig{{}}, false, "a type"},
		"a type with a space":       {[]*appconfig.DetailsConfig{{Type: "payment initiation"}}, false, "a type"},
		"a type with a quote":       {[]*appconfig.DetailsConfig{{Type: `a"b`}}, false, "a type"},
		"an action with a space":    {[]*appconfig.DetailsConfig{{Type: "a", Actions: []string{"a b"}}}, false, "action"},
		"an empty detail path":      {[]*appconfig.DetailsConfig{{Type: "a", Match: []appconfig.DetailMatch{{Body: "amount"}}}}, false, "match"},
		"a path with an empty name": {[]*appconfig.DetailsConfig{{Type: "a", Match: []appconfig.DetailMatch{{Detail: "a..b"}}}}, false, "match"},
		"a body path with a space":  {[]*appconfig.DetailsConfig{{Type: "a", Match: []appconfig.DetailMatch{{Detail: "a", Body: "a b"}}}}, false, "match"},
		"matching the type":         {[]*appconfig.DetailsConfig{{Type: "a", Match: []appconfig.DetailMatch{{Detail: "type", Body: "kind"}}}}, false, "checks it itself"},
		"matching the locations":    {[]*appconfig.DetailsConfig{{Type: "a", Match: []appconfig.DetailMatch{{Detail: "locations"}}}}, false, "checks it itself"},
		"with mcp":                  {[]*appconfig.DetailsConfig{ok}, true, "one or the other"},
		"a nil block":               {[]*appconfig.DetailsConfig{nil}, false, "a type"},
	} {
		h := &Handler{RouteConfig: appconfig.RouteConfig{AuthorizationDetails: tc.details}}
		if tc.mcp {
			h.MCP = new(appconfig.MCPConfig)
		}
		h.logger = zap.NewNop()
		err := h.setup(app)
		if err == nil {
			err = h.Validate()
		}
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestDurationIsCaddys: appconfig.Duration reads and refuses exactly what
// caddy.Duration does, so the config types' move out of the Caddy shell
// changed no accepted config.
func TestDurationIsCaddys(t *testing.T) {
	for _, in := range []string{`0`, `1500000000`, `-5`, `"90s"`, `"1h30m"`, `"2d"`, `"1.5d"`, `"1d12h"`, `"0.5d30m"`, `"-1d"`, `"+2d"`,
		`"2d2d"`, `"1h1d"`, `""`, `"5"`, `"d"`, `"1x"`, `"xd"`, `"1dd"`, `"d1"`, `"1 d"`, `"1e3s"`, `1.5`, `"1s`, `true`, `null`,
		`{}`, `"9999999999h"`, `99999999999999999999`, `"` + strings.Repeat("1", 1100) + `s"`} {
		var ours appconfig.Duration
		var theirs caddy.Duration
		errOurs, errTheirs := json.Unmarshal([]byte(in), &ours), json.Unmarshal([]byte(in), &theirs)
		if (errOurs == nil) != (errTheirs == nil) || time.Duration(ours) != time.Duration(theirs) {
			t.Errorf("%.40s: ours %v (%v), caddy's %v (%v)", in, time.Duration(ours), errOurs, time.Duration(theirs), errTheirs)
		}
		bo, _ := json.Marshal(ours)
		bt, _ := json.Marshal(theirs)
		if string(bo) != string(bt) {
			t.Errorf("%.40s written as %s, caddy's as %s", in, bo, bt)
		}
	}
}
