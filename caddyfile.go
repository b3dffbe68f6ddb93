package caddystepup

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// Directive order: all five run in the authentication stage, right after
// forward_auth, so that no handler that answers by itself (respond,
// file_server, reverse_proxy, ...) ever runs before the token is checked.
// stepup_signals, stepup_management, stepup_metadata and stepup_session
// come first: each answers only its own paths (with its own credentials,
// or none for the public metadata), which must stay reachable without a
// scope. Each registration inserts right after forward_auth, so the later
// one ends up first: stepup_signals, stepup_management, stepup_metadata,
// stepup_session, stepup.
func init() {
	httpcaddyfile.RegisterGlobalOption("stepup", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("stepup", parseStepupDirective)
	httpcaddyfile.RegisterDirectiveOrder("stepup", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterHandlerDirective("stepup_session", parseSessionDirective)
	httpcaddyfile.RegisterDirectiveOrder("stepup_session", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterHandlerDirective("stepup_metadata", parseMetadataDirective)
	httpcaddyfile.RegisterDirectiveOrder("stepup_metadata", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterHandlerDirective("stepup_management", parseManagementDirective)
	httpcaddyfile.RegisterDirectiveOrder("stepup_management", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterHandlerDirective("stepup_signals", parseSignalsDirective)
	httpcaddyfile.RegisterDirectiveOrder("stepup_signals", httpcaddyfile.After, "forward_auth")
}

// parseGlobalOption turns the `stepup` global option into the stepup app.
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "stepup", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens. Placeholders
// such as {env.SECRET} are kept as written and resolved at Provision.
// Syntax:
//
//	stepup {
//		issuer            <url>
//		audience          <aud>
//		signing_key       <pem-file>
//		access_token_ttl  <duration>
//		refresh_token_ttl <duration>
//		leeway            <duration>
//		token_cache       <entries>|off
//		trust <issuer> {
//			jwks_url         <url>
//			audience         <aud...>
//			algorithms       <alg...>
//			typ              <typ...>
//			refresh_interval <duration>
//			max_token_lifetime <duration>
//		}
//		store memory [{ max_keys <n> }]
//		store redis [<url>] {
//			cluster [<addr...>]
//			addrs    <addr...>
//			sentinel <master>
//			username <user>
//			password <password>
//			db       <n>
//			tls
//			key_prefix <prefix>
//			timeout  <duration>
//			allow_eviction
//			wait_replicas <n> [<timeout>]
//			max_clock_offset <duration>
//		}
//		login otp phone_number|email_address...
//		login password {
//			min_length <n>
//			max_length <n>
//			uppercase|lowercase|numbers|symbols [<n>]
//			argon2id <time> <memory> <threads>
//			concurrent_hashes <n>
//			acr <acr>
//		}
//		login oauth <provider> {
//			issuer        <url>
//			client_id     <id>
//			client_secret <secret>
//			scopes        <scope...>
//			redirect_uris <url...>              (required)
//			acr           <acr>
//			acr_map       <provider-acr> <acr>  (repeatable)
//			trust_verified_identifiers
//		}
//		passkey {
//			rp_id                  <domain>
//			rp_name                <name>
//			allowed_origins        <origin...>
//			user_verification      required|preferred|discouraged
//			attestation_preference none|indirect|direct|enterprise
//			login_enabled
//			aaguid_allowlist       <uuid...>
//			acr                    <acr>
//			acr_hardware           <acr>
//		}
//		management_key <key>
//		login_acr      <acr>
//		possession_acr <acr...>
//		limits {
//			client_unproven_sends    <n> <window>
//			client_destination_sends <n> <window>
//			client_sends             <n> <window>
//			client_unfinished_logins <n> <window>
//			client_login_starts      <n> <window>
//			login_starts             <n> <window>
//			sends                    <n> <window>
//		}
//		otp {
//			sender log
//			sender webhook <url> { secret <secret>; timeout <d> }
//			sender smtp <host:port> { from <addr>; username <u>; password <p>; tls starttls|tls|none; subject <text> }
//			digits <6-8>
//			ttl <duration>
//			max_attempts <n>
//			resend_cooldown <duration>
//			max_resends <n>
//			max_per_hour <n>
//		}
//		custom_steps {
//			jwks_url     <url>
//			keys         <key...>
//			algorithms   <alg...>
//			issuer       <iss>
//			audience     <aud...>
//			max_lifetime <duration>
//		}
//		revocation {
//			poll_interval <duration>
//			max_staleness <duration>
//			max_entries   <n>
//		}
//		webhook_signing_key <pem-file>
//		hook_algorithm      ES256|PS256
//		webhooks {
//			app_id <id>
//			endpoint <url> {
//				events <type...>
//				secret <secret>
//			}
//			timeout       <duration>
//			max_attempts  <n>
//			backoff       <initial> [<max>]
//			queue_size    <n>
//			workers       <n>
//			drain_timeout <duration>
//		}
//		cors <origin...>
//		external_url <origin>
//		strip_headers <name|prefix*...> | off
//		dpop_algorithms <alg...>
//		scope <name> {
//			delegated <hook-url>
//			direct {
//				step        <key> [<expiration>]
//				granted_for <duration>
//				grant_mode  single-use|session-bound
//			}
//			block
//			acr <acr>
//		}
//	}
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	return parseWords(d, "stepup", map[string]word{
		"issuer": {str: &a.Issuer, once: true}, "audience": {str: &a.Audience, once: true},
		"signing_key": {str: &a.SigningKey, once: true}, "webhook_signing_key": {str: &a.WebhookSigningKey, once: true},
		"hook_algorithm":   {str: &a.HookAlgorithm, once: true},
		"access_token_ttl": {dur: &a.AccessTokenTTL, once: true}, "refresh_token_ttl": {dur: &a.RefreshTokenTTL, once: true},
		"leeway":      {dur: &a.Leeway, once: true},
		"token_cache": {parse: func() error { return a.parseTokenCache(d) }},
		"trust": {parse: func() error {
			t, err := parseTrust(d)
			if err == nil {
				a.Trust = append(a.Trust, t)
			}
			return err
		}},
		"scope": {parse: func() error { return a.parseScopeWord(d) }},
		"store": blockWord(d, "store", &a.Store, parseStore),
		"login": {parse: func() error {
			if a.Login == nil {
				a.Login = new(appconfig.LoginConfig)
			}
			return parseLogin(d, a.Login)
		}},
		"passkey":      blockWord(d, "passkey", &a.Passkey, parsePasskey),
		"revocation":   blockWord(d, "revocation", &a.Revocation, parseRevocation),
		"webhooks":     blockWord(d, "webhooks", &a.Webhooks, parseWebhooks),
		"limits":       bareBlockWord(d, &a.Limits, parseLimits),
		"otp":          bareBlockWord(d, &a.OTP, parseOTP),
		"custom_steps": bareBlockWord(d, &a.CustomSteps, parseCustomSteps),
		"management_key": {parse: func() error {
			if a.Management == nil {
				a.Management = new(appconfig.ManagementConfig)
			}
			return oneArg(d, &a.Management.Key)
		}},
		"login_acr": {str: &a.LoginACR}, "possession_acr": {list: &a.PossessionACR},
		"cors": {list: &a.CORS}, "external_url": {str: &a.ExternalURL},
		"strip_headers": {parse: func() error {
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if len(args) == 1 && args[0] == "off" {
				a.StripHeadersOff = true
				return nil
			}
			a.StripHeaders = append(a.StripHeaders, args...)
			return nil
		}},
		"dpop_algorithms": {list: &a.DPoPAlgorithms},
	})
}

// parseTokenCache reads `token_cache <entries>|off`.
func (a *App) parseTokenCache(d *caddyfile.Dispenser) error {
	var v string
	if err := oneArg(d, &v); err != nil {
		return err
	}
	if v == "off" {
		a.DisableTokenCache = true
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return d.Errf("token_cache: %q is neither a positive number of entries nor off", v)
	}
	a.TokenCacheSize = n
	return nil
}

// parseScopeWord reads `scope <name> { ... }`.
func (a *App) parseScopeWord(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if _, dup := a.Scopes[name]; dup {
		return d.Errf("scope %s already specified", name)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	s, err := parseScope(d)
	if err != nil {
		return err
	}
	if a.Scopes == nil {
		a.Scopes = make(map[string]*appconfig.Scope)
	}
	a.Scopes[name] = s
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*SessionHandler)(nil)
)
