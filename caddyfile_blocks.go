// Caddyfile parsing of the stepup option's service blocks: store, limits,
// otp and its sender, custom_steps.

package caddystepup

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// parseStore parses `store memory` or `store redis [<url>] { ... }`.
func parseStore(d *caddyfile.Dispenser) (*appconfig.StoreConfig, error) {
	st := new(appconfig.StoreConfig)
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
		case "max_clock_offset":
			if err := durationArg(d, &st.MaxClockOffset); err != nil {
				return nil, err
			}
		case "allow_eviction":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			st.AllowEviction = true
		case "wait_replicas":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return nil, d.Err("wait_replicas <count> [<timeout>]")
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return nil, d.Errf("wait_replicas: %q is not a replica count (1 or more)", args[0])
			}
			st.WaitReplicas = n
			if len(args) == 2 {
				dur, err := caddy.ParseDuration(args[1])
				if err != nil || dur <= 0 {
					return nil, d.Errf("wait_replicas: %q is not a positive duration", args[1])
				}
				st.WaitTimeout = appconfig.Duration(dur)
			}
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

// parseLimits parses `limits { client_unproven_sends <n> <window>; ... }`.
func parseLimits(d *caddyfile.Dispenser) (*appconfig.LimitsConfig, error) {
	l := new(appconfig.LimitsConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		target := l.Words()[option]
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
		*target = &appconfig.RateConfig{Count: n, Window: appconfig.Duration(dur)}
	}
	return l, nil
}

// parseOTP parses the `otp { sender ...; digits; ttl; ... }` block.
func parseOTP(d *caddyfile.Dispenser) (*appconfig.OTPConfig, error) {
	o := new(appconfig.OTPConfig)
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
func parseSender(d *caddyfile.Dispenser) (*appconfig.SenderConfig, error) {
	sc := new(appconfig.SenderConfig)
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
func parseCustomSteps(d *caddyfile.Dispenser) (*appconfig.CustomStepsConfig, error) {
	cs := new(appconfig.CustomStepsConfig)
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
