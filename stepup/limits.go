package stepup

import (
	"context"
	"net/netip"
	"time"
)

// Rate is a number of events allowed per fixed window.
type Rate struct {
	Count  int
	Window time.Duration
}

// RateLimits bound the unauthenticated work a client can make the gateway
// do (OWASP API4:2023, unrestricted resource consumption): login starts,
// and codes sent (SMS pumping). "Client" is the request's client IP as
// Caddy determines it (trusted proxies applied), IPv6 grouped by /64; the
// limits shared by all clients bound the whole deployment. Counters live in
// the store, so every instance sharing it counts together.
type RateLimits struct {
	ClientLoginStarts Rate // per client; default 10 per 10m
	ClientSends       Rate // codes sent because of one client IP, or one session's DPoP key (login, resends, steps); default 20 per 1h
	LoginStarts       Rate // all clients together; default 600 per 1m
	Sends             Rate // all clients together; default 600 per 1m
}

func (l *RateLimits) setDefaults() {
	def := func(r *Rate, count int, window time.Duration) {
		if r.Count == 0 {
			r.Count = count
		}
		if r.Window == 0 {
			r.Window = window
		}
	}
	def(&l.ClientLoginStarts, 10, 10*time.Minute)
	def(&l.ClientSends, 20, time.Hour)
	def(&l.LoginStarts, 600, time.Minute)
	def(&l.Sends, 600, time.Minute)
}

// allow counts one event under key and refuses it past the rate: one store
// round trip either way.
func (e *Engine) allow(ctx context.Context, key string, r Rate) error {
	n, err := e.cfg.Store.Incr(ctx, key, r.Window)
	if err != nil {
		return storeErr(err)
	}
	if n > int64(r.Count) {
		return ErrRateLimited
	}
	return nil
}

// allowSend checks every cap on one code before it is sent: the client
// IP's, the session key's when the request comes from a session (a client
// that moves between addresses keeps its key), the deployment's, and the
// destination bucket's.
func (e *Engine) allowSend(ctx context.Context, client ClientInfo, sessionJKT, bucket string) error {
	if err := e.allow(ctx, clientSendsKey(clientKey(client.IP)), e.cfg.Limits.ClientSends); err != nil {
		return err
	}
	if sessionJKT != "" {
		if err := e.allow(ctx, clientSendsKey("jkt:"+sessionJKT), e.cfg.Limits.ClientSends); err != nil {
			return err
		}
	}
	if err := e.allow(ctx, globalSendsKey, e.cfg.Limits.Sends); err != nil {
		return err
	}
	return e.allow(ctx, bucket, Rate{Count: e.cfg.OTP.MaxPerHour, Window: time.Hour})
}

// clientKey names a client by its IP: an IPv6 client by its /64, which one
// subscriber usually holds whole.
func clientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	if addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.String()
	}
	return addr.String()
}
