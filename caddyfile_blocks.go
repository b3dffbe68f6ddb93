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
	if err := parseWords(d, "store", map[string]word{
		"cluster": {parse: func() error {
			st.Cluster = true
			st.Addrs = append(st.Addrs, d.RemainingArgs()...)
			return nil
		}},
		"addrs": {parse: func() error {
			st.Addrs = append(st.Addrs, d.RemainingArgs()...)
			return nil
		}},
		"sentinel": {str: &st.SentinelMaster}, "username": {str: &st.Username}, "password": {str: &st.Password},
		"key_prefix": {str: &st.KeyPrefix}, "tls": {flag: &st.TLS}, "allow_eviction": {flag: &st.AllowEviction},
		"timeout": {dur: &st.Timeout}, "max_clock_offset": {dur: &st.MaxClockOffset},
		"db": {parse: func() error {
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return d.Errf("db: %q is not a database number", v)
			}
			st.DB = n
			return nil
		}},
		"wait_replicas": {parse: func() error { return parseWaitReplicas(d, st) }},
	}); err != nil {
		return nil, err
	}
	if st.URL == "" && len(st.Addrs) == 0 {
		return nil, d.Err("store redis needs a URL or addrs")
	}
	if st.URL != "" && len(st.Addrs) > 0 {
		return nil, d.Err("store redis takes a URL or addrs, not both")
	}
	return st, nil
}

// parseWaitReplicas reads `wait_replicas <count> [<timeout>]`.
func parseWaitReplicas(d *caddyfile.Dispenser, st *appconfig.StoreConfig) error {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Err("wait_replicas <count> [<timeout>]")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return d.Errf("wait_replicas: %q is not a replica count (1 or more)", args[0])
	}
	st.WaitReplicas = n
	if len(args) == 2 {
		dur, err := caddy.ParseDuration(args[1])
		if err != nil || dur <= 0 {
			return d.Errf("wait_replicas: %q is not a positive duration", args[1])
		}
		st.WaitTimeout = appconfig.Duration(dur)
	}
	return nil
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
	err := parseWords(d, "otp", map[string]word{
		"sender": blockWord(d, "sender", &o.Sender, parseSender),
		"digits": {num: &o.Digits}, "max_attempts": {num: &o.MaxAttempts}, "max_resends": {num: &o.MaxResends},
		"max_per_hour": {num: &o.MaxPerHour}, "ttl": {dur: &o.TTL}, "resend_cooldown": {dur: &o.ResendCooldown},
	})
	return o, err
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
	words := map[string]word{"timeout": {dur: &sc.Timeout}}
	if sc.Kind == "webhook" {
		words["secret"] = word{str: &sc.Secret}
	} else {
		words["from"], words["username"], words["password"], words["tls"] = word{str: &sc.From}, word{str: &sc.Username}, word{str: &sc.Password}, word{str: &sc.TLS}
		words["subject"] = word{parse: func() error {
			sc.Subject = strings.Join(d.RemainingArgs(), " ")
			if sc.Subject == "" {
				return d.ArgErr()
			}
			return nil
		}}
	}
	if err := parseWords(d, sc.Kind+" sender", words); err != nil {
		return nil, err
	}
	if sc.Kind == "smtp" && sc.From == "" {
		return nil, d.Err("sender smtp needs `from`")
	}
	return sc, nil
}

// parseCustomSteps parses `custom_steps { jwks_url; keys; algorithms }`.
func parseCustomSteps(d *caddyfile.Dispenser) (*appconfig.CustomStepsConfig, error) {
	cs := new(appconfig.CustomStepsConfig)
	if err := parseWords(d, "custom_steps", map[string]word{
		"jwks_url": {str: &cs.JWKSURL}, "issuer": {str: &cs.Issuer}, "max_lifetime": {dur: &cs.MaxLifetime},
		"keys": {list: &cs.Keys}, "algorithms": {list: &cs.Algorithms}, "audience": {list: &cs.Audience},
	}); err != nil {
		return nil, err
	}
	if cs.JWKSURL == "" {
		return nil, d.Err("custom_steps needs jwks_url")
	}
	return cs, nil
}
