// Caddyfile parsing of the stepup option's webhooks block.

package caddystepup

import (
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
	if err := parseWords(d, "webhooks", map[string]word{
		"app_id": {str: &w.AppID, once: true}, "timeout": {dur: &w.Timeout, once: true}, "drain_timeout": {dur: &w.DrainTimeout, once: true},
		"max_attempts": {num: &w.MaxAttempts}, "queue_size": {num: &w.QueueSize}, "workers": {num: &w.Workers},
		"endpoint": {parse: func() error {
			ep, err := parseWebhookEndpoint(d)
			if err == nil {
				w.Endpoints = append(w.Endpoints, ep)
			}
			return err
		}},
		"backoff": {parse: func() error {
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Err("backoff <initial> [<max>]")
			}
			for i, target := range []*appconfig.Duration{&w.Backoff, &w.MaxBackoff}[:len(args)] {
				dur, err := caddy.ParseDuration(args[i])
				if err != nil || dur <= 0 {
					return d.Errf("backoff: %q is not a positive duration", args[i])
				}
				*target = appconfig.Duration(dur)
			}
			return nil
		}},
	}); err != nil {
		return nil, err
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
	err := parseWords(d, "webhook endpoint", map[string]word{"events": {list: &ep.Events}, "secret": {str: &ep.Secret, once: true}})
	return ep, err
}
