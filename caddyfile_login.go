// Caddyfile parsing of the `login` words of the stepup global option.

package caddystepup

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// parseLogin parses `login otp <type...>` or `login password { ... }`.
func parseLogin(d *caddyfile.Dispenser, l *appconfig.LoginConfig) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	switch method := d.Val(); method {
	case "otp":
		l.OTP = append(l.OTP, d.RemainingArgs()...)
		if len(l.OTP) == 0 {
			return d.Err("login otp needs identifier types: phone_number, email_address")
		}
		for _, typ := range l.OTP {
			if typ != "phone_number" && typ != "email_address" {
				return d.Errf("login otp: unknown identifier type '%s' (want phone_number or email_address)", typ)
			}
		}
		return nil
	case "password":
		if d.NextArg() {
			return d.ArgErr()
		}
		if l.Password != nil {
			return d.Err("login password is given twice")
		}
		pw, err := parsePasswordLogin(d)
		l.Password = pw
		return err
	case "oauth":
		var name string
		if !d.Args(&name) || d.NextArg() {
			return d.Err("login oauth <provider> { issuer ...; client_id ...; client_secret ... }")
		}
		if l.OAuth == nil {
			l.OAuth = map[string]*appconfig.OAuthConfig{}
		}
		if _, dup := l.OAuth[name]; dup {
			return d.Errf("login oauth %s is given twice", name)
		}
		o, err := parseOAuthLogin(d)
		l.OAuth[name] = o
		return err
	default:
		return d.Errf("login: unknown method '%s' (want otp, password or oauth)", method)
	}
}

// parseOAuthLogin parses the block of `login oauth <provider>`.
func parseOAuthLogin(d *caddyfile.Dispenser) (*appconfig.OAuthConfig, error) {
	o := new(appconfig.OAuthConfig)
	err := parseWords(d, "login oauth", map[string]word{
		"issuer": {str: &o.Issuer}, "client_id": {str: &o.ClientID}, "client_secret": {str: &o.ClientSecret}, "acr": {str: &o.ACR},
		"scopes": {list: &o.Scopes}, "redirect_uris": {list: &o.RedirectURIs}, "trust_verified_identifiers": {flag: &o.TrustVerifiedIdentifiers},
		"acr_map": {parse: func() error {
			var from, to string
			if !d.Args(&from, &to) || d.NextArg() {
				return d.Err("acr_map <provider-acr> <acr>")
			}
			if _, dup := o.ACRMap[from]; dup {
				return d.Errf("acr_map %s is given twice", from)
			}
			if o.ACRMap == nil {
				o.ACRMap = map[string]string{}
			}
			o.ACRMap[from] = to
			return nil
		}},
	})
	return o, err
}

// parsePasswordLogin parses the block of `login password`.
func parsePasswordLogin(d *caddyfile.Dispenser) (*appconfig.PasswordConfig, error) {
	pw := new(appconfig.PasswordConfig)
	count := func(dst *int, optional bool) error {
		option := d.Val()
		args := d.RemainingArgs()
		switch {
		case len(args) == 0 && optional:
			*dst = 1
			return nil
		case len(args) != 1:
			return d.ArgErr()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return d.Errf("%s: %q is not a count", option, args[0])
		}
		*dst = n
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "min_length":
			err = count(&pw.MinLength, false)
		case "max_length":
			err = count(&pw.MaxLength, false)
		case "uppercase":
			err = count(&pw.Uppercase, true)
		case "lowercase":
			err = count(&pw.Lowercase, true)
		case "numbers":
			err = count(&pw.Numbers, true)
		case "symbols":
			err = count(&pw.Symbols, true)
		case "acr":
			err = oneArg(d, &pw.ACR)
		case "concurrent_hashes":
			err = count(&pw.ConcurrentHashes, false)
			if err == nil && pw.ConcurrentHashes < 1 {
				err = d.Err("concurrent_hashes: at least 1")
			}
		case "argon2id":
			var t, m, p string
			if !d.Args(&t, &m, &p) || d.NextArg() {
				return nil, d.Err("argon2id <time> <memory> <threads>, e.g. argon2id 1 46MiB 1")
			}
			time, err1 := strconv.Atoi(t)
			mem, err2 := humanize.ParseBytes(m)
			threads, err3 := strconv.Atoi(p)
			if err1 != nil || err2 != nil || err3 != nil || mem < 1024 || mem > 1<<40 {
				return nil, d.Err("argon2id <time> <memory> <threads>, e.g. argon2id 1 46MiB 1")
			}
			pw.Argon2id = &appconfig.Argon2idConfig{Time: time, MemoryKiB: int(mem / 1024), Threads: threads}
		default:
			return nil, d.Errf("unrecognized login password option '%s'", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return pw, nil
}
