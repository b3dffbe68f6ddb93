package caddystepup

import (
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Directive order: both run in the authentication stage, right after
// forward_auth, so that no handler that answers by itself (respond,
// file_server, reverse_proxy, ...) ever runs before the token is checked.
// stepup_session comes first: it answers only its own paths, which must
// stay reachable without a scope. Each registration inserts right after
// forward_auth, so the later one ends up first.
func init() {
	httpcaddyfile.RegisterGlobalOption("stepup", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("stepup", parseStepupDirective)
	httpcaddyfile.RegisterDirectiveOrder("stepup", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterHandlerDirective("stepup_session", parseSessionDirective)
	httpcaddyfile.RegisterDirectiveOrder("stepup_session", httpcaddyfile.After, "forward_auth")
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
//		}
//		login otp phone_number|email_address...
//		limits {
//			client_login_starts <n> <window>
//			client_sends        <n> <window>
//			login_starts        <n> <window>
//			sends               <n> <window>
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
//		}
//	}
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		option := d.Val()
		switch option {
		case "issuer", "audience", "signing_key":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			target := map[string]*string{"issuer": &a.Issuer, "audience": &a.Audience, "signing_key": &a.SigningKey}[option]
			if *target != "" {
				return d.Errf("%s already specified", option)
			}
			*target = v
		case "access_token_ttl", "refresh_token_ttl", "leeway":
			target := map[string]*caddy.Duration{"access_token_ttl": &a.AccessTokenTTL, "refresh_token_ttl": &a.RefreshTokenTTL, "leeway": &a.Leeway}[option]
			if *target != 0 {
				return d.Errf("%s already specified", option)
			}
			if err := durationArg(d, target); err != nil {
				return err
			}
		case "token_cache":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			if v == "off" {
				a.DisableTokenCache = true
				break
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("token_cache: %q is neither a positive number of entries nor off", v)
			}
			a.TokenCacheSize = n
		case "trust":
			t, err := parseTrust(d)
			if err != nil {
				return err
			}
			a.Trust = append(a.Trust, t)
		case "scope":
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
				a.Scopes = make(map[string]*Scope)
			}
			a.Scopes[name] = s
		case "store":
			if a.Store != nil {
				return d.Err("store already specified")
			}
			st, err := parseStore(d)
			if err != nil {
				return err
			}
			a.Store = st
		case "login":
			var method string
			if !d.NextArg() {
				return d.ArgErr()
			}
			method = d.Val()
			if method != "otp" {
				return d.Errf("login: unknown method '%s' (want otp)", method)
			}
			if a.Login == nil {
				a.Login = new(LoginConfig)
			}
			a.Login.OTP = append(a.Login.OTP, d.RemainingArgs()...)
			if len(a.Login.OTP) == 0 {
				return d.Err("login otp needs identifier types: phone_number, email_address")
			}
			for _, typ := range a.Login.OTP {
				if typ != "phone_number" && typ != "email_address" {
					return d.Errf("login otp: unknown identifier type '%s' (want phone_number or email_address)", typ)
				}
			}
		case "limits":
			if d.NextArg() {
				return d.ArgErr()
			}
			l, err := parseLimits(d)
			if err != nil {
				return err
			}
			a.Limits = l
		case "otp":
			if d.NextArg() {
				return d.ArgErr()
			}
			o, err := parseOTP(d)
			if err != nil {
				return err
			}
			a.OTP = o
		case "custom_steps":
			if d.NextArg() {
				return d.ArgErr()
			}
			cs, err := parseCustomSteps(d)
			if err != nil {
				return err
			}
			a.CustomSteps = cs
		case "cors":
			a.CORS = append(a.CORS, d.RemainingArgs()...)
			if len(a.CORS) == 0 {
				return d.ArgErr()
			}
		case "external_url":
			if err := oneArg(d, &a.ExternalURL); err != nil {
				return err
			}
		case "strip_headers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if len(args) == 1 && args[0] == "off" {
				a.StripHeadersOff = true
				break
			}
			a.StripHeaders = append(a.StripHeaders, args...)
		case "dpop_algorithms":
			a.DPoPAlgorithms = append(a.DPoPAlgorithms, d.RemainingArgs()...)
			if len(a.DPoPAlgorithms) == 0 {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized stepup option '%s'", option)
		}
	}
	return nil
}

// parseStore parses `store memory` or `store redis [<url>] { ... }`.
func parseStore(d *caddyfile.Dispenser) (*StoreConfig, error) {
	st := new(StoreConfig)
	if !d.NextArg() {
		return nil, d.Err("store memory | redis [<url>]")
	}
	st.Backend = d.Val()
	switch st.Backend {
	case "memory":
		if d.NextArg() {
			return nil, d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			if d.Val() != "max_keys" {
				return nil, d.Errf("unrecognized memory store option '%s'", d.Val())
			}
			var v string
			if err := oneArg(d, &v); err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1000 {
				return nil, d.Errf("max_keys: %q is not a number of keys of at least 1000", v)
			}
			st.MaxKeys = n
		}
		return st, nil
	case "redis":
	default:
		return nil, d.Errf("store: unknown backend '%s' (want memory or redis)", st.Backend)
	}
	if d.NextArg() {
		st.URL = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "cluster":
			st.Cluster = true
			st.Addrs = append(st.Addrs, d.RemainingArgs()...)
		case "addrs":
			st.Addrs = append(st.Addrs, d.RemainingArgs()...)
		case "sentinel":
			if err := oneArg(d, &st.SentinelMaster); err != nil {
				return nil, err
			}
		case "username":
			if err := oneArg(d, &st.Username); err != nil {
				return nil, err
			}
		case "password":
			if err := oneArg(d, &st.Password); err != nil {
				return nil, err
			}
		case "db":
			var v string
			if err := oneArg(d, &v); err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, d.Errf("db: %q is not a database number", v)
			}
			st.DB = n
		case "tls":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			st.TLS = true
		case "key_prefix":
			if err := oneArg(d, &st.KeyPrefix); err != nil {
				return nil, err
			}
		case "timeout":
			if err := durationArg(d, &st.Timeout); err != nil {
				return nil, err
			}
		case "allow_eviction":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			st.AllowEviction = true
		default:
			return nil, d.Errf("unrecognized store option '%s'", d.Val())
		}
	}
	if st.URL == "" && len(st.Addrs) == 0 {
		return nil, d.Err("store redis needs a URL or addrs")
	}
	if st.URL != "" && len(st.Addrs) > 0 {
		return nil, d.Err("store redis takes a URL or addrs, not both")
	}
	return st, nil
}

// parseLimits parses `limits { client_login_starts <n> <window>; ... }`.
func parseLimits(d *caddyfile.Dispenser) (*LimitsConfig, error) {
	l := new(LimitsConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		target := map[string]**RateConfig{"client_login_starts": &l.ClientLoginStarts, "client_sends": &l.ClientSends,
			"login_starts": &l.LoginStarts, "sends": &l.Sends}[option]
		if target == nil {
			return nil, d.Errf("unrecognized limits option '%s'", option)
		}
		var count, window string
		if !d.Args(&count, &window) || d.NextArg() {
			return nil, d.Errf("%s <count> <window>", option)
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return nil, d.Errf("%s: %q is not a positive count", option, count)
		}
		dur, err := caddy.ParseDuration(window)
		if err != nil {
			return nil, d.Errf("%s: %v", option, err)
		}
		*target = &RateConfig{Count: n, Window: caddy.Duration(dur)}
	}
	return l, nil
}

// parseOTP parses the `otp { sender ...; digits; ttl; ... }` block.
func parseOTP(d *caddyfile.Dispenser) (*OTPConfig, error) {
	o := new(OTPConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		switch option {
		case "sender":
			if o.Sender != nil {
				return nil, d.Err("sender already specified")
			}
			sc, err := parseSender(d)
			if err != nil {
				return nil, err
			}
			o.Sender = sc
		case "digits", "max_attempts", "max_resends", "max_per_hour":
			var v string
			if err := oneArg(d, &v); err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, d.Errf("%s: %q is not a positive number", option, v)
			}
			*map[string]*int{"digits": &o.Digits, "max_attempts": &o.MaxAttempts, "max_resends": &o.MaxResends, "max_per_hour": &o.MaxPerHour}[option] = n
		case "ttl":
			if err := durationArg(d, &o.TTL); err != nil {
				return nil, err
			}
		case "resend_cooldown":
			if err := durationArg(d, &o.ResendCooldown); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized otp option '%s'", option)
		}
	}
	return o, nil
}

// parseSender parses `sender log`, `sender webhook <url> { secret; timeout }`
// or `sender smtp <host:port> { from; username; password; tls; subject; timeout }`.
func parseSender(d *caddyfile.Dispenser) (*SenderConfig, error) {
	sc := new(SenderConfig)
	if !d.NextArg() {
		return nil, d.Err("sender log | webhook <url> | smtp <host:port>")
	}
	sc.Kind = d.Val()
	switch sc.Kind {
	case "log":
		if d.NextArg() {
			return nil, d.ArgErr()
		}
		return sc, nil
	case "webhook":
		if !d.NextArg() {
			return nil, d.Err("sender webhook needs a URL")
		}
		sc.URL = d.Val()
	case "smtp":
		if !d.NextArg() {
			return nil, d.Err("sender smtp needs host:port")
		}
		sc.Addr = d.Val()
	default:
		return nil, d.Errf("unknown sender '%s' (want log, webhook or smtp)", sc.Kind)
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		switch {
		case option == "timeout":
			if err := durationArg(d, &sc.Timeout); err != nil {
				return nil, err
			}
		case option == "secret" && sc.Kind == "webhook":
			if err := oneArg(d, &sc.Secret); err != nil {
				return nil, err
			}
		case sc.Kind == "smtp" && (option == "from" || option == "username" || option == "password" || option == "tls" || option == "subject"):
			target := map[string]*string{"from": &sc.From, "username": &sc.Username, "password": &sc.Password, "tls": &sc.TLS, "subject": &sc.Subject}[option]
			if option == "subject" {
				*target = strings.Join(d.RemainingArgs(), " ")
				if *target == "" {
					return nil, d.ArgErr()
				}
				break
			}
			if err := oneArg(d, target); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized %s sender option '%s'", sc.Kind, option)
		}
	}
	if sc.Kind == "smtp" && sc.From == "" {
		return nil, d.Err("sender smtp needs `from`")
	}
	return sc, nil
}

// parseCustomSteps parses `custom_steps { jwks_url; keys; algorithms }`.
func parseCustomSteps(d *caddyfile.Dispenser) (*CustomStepsConfig, error) {
	cs := new(CustomStepsConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "jwks_url":
			if err := oneArg(d, &cs.JWKSURL); err != nil {
				return nil, err
			}
		case "keys":
			cs.Keys = append(cs.Keys, d.RemainingArgs()...)
			if len(cs.Keys) == 0 {
				return nil, d.ArgErr()
			}
		case "algorithms":
			cs.Algorithms = append(cs.Algorithms, d.RemainingArgs()...)
			if len(cs.Algorithms) == 0 {
				return nil, d.ArgErr()
			}
		case "issuer":
			if err := oneArg(d, &cs.Issuer); err != nil {
				return nil, err
			}
		case "audience":
			cs.Audience = append(cs.Audience, d.RemainingArgs()...)
			if len(cs.Audience) == 0 {
				return nil, d.ArgErr()
			}
		case "max_lifetime":
			if err := durationArg(d, &cs.MaxLifetime); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized custom_steps option '%s'", d.Val())
		}
	}
	if cs.JWKSURL == "" {
		return nil, d.Err("custom_steps needs jwks_url")
	}
	return cs, nil
}

func parseTrust(d *caddyfile.Dispenser) (*Trust, error) {
	t := new(Trust)
	if !d.NextArg() {
		return nil, d.Err("trust needs the issuer it accepts tokens from")
	}
	t.Issuer = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "jwks_url":
			if t.JWKSURL != "" {
				return nil, d.Err("jwks_url already specified")
			}
			if err := oneArg(d, &t.JWKSURL); err != nil {
				return nil, err
			}
		case "audience":
			t.Audience = append(t.Audience, d.RemainingArgs()...)
			if len(t.Audience) == 0 {
				return nil, d.ArgErr()
			}
		case "algorithms":
			t.Algorithms = append(t.Algorithms, d.RemainingArgs()...)
			if len(t.Algorithms) == 0 {
				return nil, d.ArgErr()
			}
		case "typ":
			t.Types = append(t.Types, d.RemainingArgs()...)
			if len(t.Types) == 0 {
				return nil, d.ArgErr()
			}
		case "refresh_interval":
			if err := durationArg(d, &t.RefreshInterval); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized trust option '%s'", d.Val())
		}
	}
	if t.JWKSURL == "" {
		return nil, d.Errf("trust %s: jwks_url is required", t.Issuer)
	}
	return t, nil
}

func parseScope(d *caddyfile.Dispenser) (*Scope, error) {
	s := new(Scope)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "delegated":
			if err := oneArg(d, &s.Delegated); err != nil {
				return nil, err
			}
		case "block":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			s.Block = true
		case "direct":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			direct, err := parseDirect(d)
			if err != nil {
				return nil, err
			}
			s.Direct = direct
		default:
			return nil, d.Errf("unrecognized scope option '%s'", d.Val())
		}
	}
	if err := validateScope("x", s, nil); err != nil {
		return nil, d.Err(err.Error())
	}
	return s, nil
}

func parseDirect(d *caddyfile.Dispenser) (*DirectScope, error) {
	direct := new(DirectScope)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "step":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return nil, d.Err("step <key> [<expiration>]")
			}
			st := DirectStep{Key: args[0]}
			if len(args) == 2 {
				dur, err := caddy.ParseDuration(args[1])
				if err != nil {
					return nil, d.Errf("step %s: expiration: %v", args[0], err)
				}
				st.Expiration = caddy.Duration(dur)
			}
			direct.Steps = append(direct.Steps, st)
		case "granted_for":
			if err := durationArg(d, &direct.GrantedFor); err != nil {
				return nil, err
			}
		case "grant_mode":
			if err := oneArg(d, &direct.GrantMode); err != nil {
				return nil, err
			}
			if direct.GrantMode != grantSingleUse && direct.GrantMode != grantSessionBound {
				return nil, d.Errf("grant_mode must be %s or %s", grantSingleUse, grantSessionBound)
			}
		default:
			return nil, d.Errf("unrecognized direct option '%s'", d.Val())
		}
	}
	if len(direct.Steps) == 0 {
		return nil, d.Err("direct needs at least one step")
	}
	return direct, nil
}

// parseStepupDirective parses the `stepup` directive.
func parseStepupDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	stepup [<matcher>] [<scope...>] {
//		any
//		realm      <realm>
//		bind       <json-field...>
//		body_limit <size>
//		dpop_nonce
//		header sub|scope|sid|grant <header-name>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	h.Scopes = append(h.Scopes, d.RemainingArgs()...)
	for d.NextBlock(0) {
		switch d.Val() {
		case "any":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Any = true
		case "realm":
			if err := oneArg(d, &h.Realm); err != nil {
				return err
			}
		case "bind":
			h.Bind = append(h.Bind, d.RemainingArgs()...)
			if len(h.Bind) == 0 {
				return d.ArgErr()
			}
		case "body_limit":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size == 0 || size > 1<<40 {
				return d.Errf("body_limit: %q is not a size such as 64KiB or 1MiB", v)
			}
			h.BodyLimit = int64(size)
		case "dpop_nonce":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.DPoPNonce = true
		case "header":
			var field, name string
			if !d.Args(&field, &name) || d.NextArg() {
				return d.Err("header sub|scope|sid|grant <header-name>")
			}
			if h.Headers == nil {
				h.Headers = new(IdentityHeaders)
			}
			target := map[string]*string{"sub": &h.Headers.Subject, "scope": &h.Headers.Scope, "sid": &h.Headers.Session, "grant": &h.Headers.Grant}[field]
			if target == nil {
				return d.Errf("header: unknown field '%s' (want sub, scope, sid or grant)", field)
			}
			*target = name
		default:
			return d.Errf("unrecognized stepup option '%s'", d.Val())
		}
	}
	return nil
}

// parseSessionDirective parses the `stepup_session` directive.
func parseSessionDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(SessionHandler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the session handler. Syntax:
//
//	stepup_session
func (s *SessionHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		return d.Errf("unrecognized stepup_session option '%s'", d.Val())
	}
	return nil
}

// oneArg reads exactly one argument into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// durationArg reads exactly one duration argument into dst.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	option := d.Val()
	var v string
	if err := oneArg(d, &v); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return d.Errf("%s: %v", option, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*SessionHandler)(nil)
)
