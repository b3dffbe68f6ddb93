// Caddyfile parsing of the stepup option's webhooks block.

package caddystepup

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// parseWebhooks parses
//
//	webhooks {
//		app_id <id>
//		endpoint <url> [{
//			events <type...>
//			secret <secret>
//		}]
//		timeout       <duration>
//		max_attempts  <n>
//		backoff       <initial> [<max>]
//		queue_size    <n>
//		workers       <n>
//		drain_timeout <duration>
//	}
func parseWebhooks(d *caddyfile.Dispenser) (*appconfig.WebhooksConfig, error) {
	w := new(appconfig.WebhooksConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		switch option {
		case "app_id":
			if w.AppID != "" {
				return nil, d.Err("app_id already specified")
			}
			if err := oneArg(d, &w.AppID); err != nil {
				return nil, err
			}
		case "endpoint":
			ep, err := parseWebhookEndpoint(d)
			if err != nil {
				return nil, err
			}
			w.Endpoints = append(w.Endpoints, ep)
		case "timeout", "drain_timeout":
			target := map[string]*appconfig.Duration{"timeout": &w.Timeout, "drain_timeout": &w.DrainTimeout}[option]
			if *target != 0 {
				return nil, d.Errf("%s already specified", option)
			}
			if err := durationArg(d, target); err != nil {
				return nil, err
			}
		case "backoff":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return nil, d.Err("backoff <initial> [<max>]")
			}
			for i, target := range []*appconfig.Duration{&w.Backoff, &w.MaxBackoff}[:len(args)] {
				dur, err := caddy.ParseDuration(args[i])
				if err != nil || dur <= 0 {
					return nil, d.Errf("backoff: %q is not a positive duration", args[i])
				}
				*target = appconfig.Duration(dur)
			}
		case "max_attempts", "queue_size", "workers":
			var v string
			if err := oneArg(d, &v); err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, d.Errf("%s: %q is not a positive number", option, v)
			}
			*map[string]*int{"max_attempts": &w.MaxAttempts, "queue_size": &w.QueueSize, "workers": &w.Workers}[option] = n
		default:
			return nil, d.Errf("unrecognized webhooks option '%s'", option)
		}
	}
	if len(w.Endpoints) == 0 {
		return nil, d.Err("webhooks: at least one endpoint <url> is required")
	}
	return w, nil
}

// parseWebhookEndpoint parses `endpoint <url> [{ events <type...>; secret <secret> }]`.
func parseWebhookEndpoint(d *caddyfile.Dispenser) (*appconfig.WebhookEndpoint, error) {
	ep := new(appconfig.WebhookEndpoint)
	if err := oneArg(d, &ep.URL); err != nil {
		return nil, err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "events":
			ep.Events = append(ep.Events, d.RemainingArgs()...)
			if len(ep.Events) == 0 {
				return nil, d.ArgErr()
			}
		case "secret":
			if ep.Secret != "" {
				return nil, d.Err("secret already specified")
			}
			if err := oneArg(d, &ep.Secret); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized webhook endpoint option '%s'", d.Val())
		}
	}
	return ep, nil
}
