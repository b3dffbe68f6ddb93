package stepup

import (
	"context"
	"net/netip"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Rate is a number of events allowed per fixed window.
type Rate struct {
	Count  int
	Window time.Duration
}

// RateLimits bound the unauthenticated work a client can make the gateway
// do (OWASP API4:2023, unrestricted resource consumption): logins started,
// and codes sent (SMS pumping). "Client" is the request's client IP as
// Caddy determines it (trusted proxies applied): an IPv4 address, or an
// IPv6 /48 (budgets.go says why). The limits shared by all clients bound
// the whole deployment. Counters live in the store, so every instance
// sharing it counts together.
//
// Thousands of honest users can share one address (carrier-grade NAT), so
// the small per-client budgets count only what was not proven: a login
// code whose login is then completed, and a login that completes, are
// given back. What one client may do in all, proven or not, is bounded by
// the large ClientSends and ClientLoginStarts.
type RateLimits struct {
	// ClientUnprovenSends: login codes (and their resends) sent because of
	// one client to identifiers it has no device cookie of, until the
	// login completes; default 20 per 1h.
	ClientUnprovenSends Rate
	// ClientDestinationSends: how many of those one client may send to
	// one phone number or email address, out of the destination's
	// OTPPolicy.MaxPerHour; default one login's codes (1 + MaxResends),
	// at most half of MaxPerHour (at least 1), per 1h.
	ClientDestinationSends Rate
	// ClientSends: every code sent because of one client, proven or not
	// (logins, resends, step-up codes); default 3000 per 1h.
	ClientSends Rate
	// ClientUnfinishedLogins: password logins, sign-ups and OAuth logins
	// started by one client, until they complete (a known device's
	// password logins are not counted); default 10 per 10m.
	ClientUnfinishedLogins Rate
	// ClientLoginStarts: every password login, sign-up, OAuth login and
	// passkey login started by one client, completed or not; default 3000
	// per 1h.
	ClientLoginStarts Rate
	LoginStarts       Rate // all clients together; default 600 per 1m
	Sends             Rate // all clients together; default 600 per 1m
}

func (l *RateLimits) setDefaults(otp *OTPPolicy) {
	def := func(r *Rate, count int, window time.Duration) {
		if *r == (Rate{}) {
			*r = Rate{Count: count, Window: window}
		}
	}
	def(&l.ClientUnprovenSends, 20, time.Hour)
	def(&l.ClientDestinationSends, min(1+otp.MaxResends, max(1, otp.MaxPerHour/2)), time.Hour)
	def(&l.ClientSends, 3000, time.Hour)
	def(&l.ClientUnfinishedLogins, 10, 10*time.Minute)
	def(&l.ClientLoginStarts, 3000, time.Hour)
	def(&l.LoginStarts, 600, time.Minute)
	def(&l.Sends, 600, time.Minute)
}

// byWord are the limits by their config words.
func (l *RateLimits) byWord() map[string]*Rate {
	return map[string]*Rate{
		"client_unproven_sends": &l.ClientUnprovenSends, "client_destination_sends": &l.ClientDestinationSends,
		"client_sends": &l.ClientSends, "client_unfinished_logins": &l.ClientUnfinishedLogins,
		"client_login_starts": &l.ClientLoginStarts, "login_starts": &l.LoginStarts, "sends": &l.Sends,
	}
}

// counter is one rate-limited counter an operation is counted in.
type counter struct {
	key  string
	rate Rate
}

// spend counts one operation in each counter, in order, and checks the
// account lock (lockKey, when set) right after the first one. When a
// counter or the lock refuses (or the store fails), the counters counted
// before are given back: a refused operation stays only in the counter
// that refused it, which is past its limit for the rest of its window
// anyway. The store decides it all in one round trip (store.Spend): a
// client past its own budget is refused in one round trip too.
func (e *Engine) spend(ctx context.Context, lockKey string, counters []counter) error {
	spent, err := store.Spend(ctx, e.cfg.Store, e.lockOf(lockKey), storeCounters(counters))
	if err != nil {
		return storeErr(err)
	}
	if !spent.OK() {
		return ErrRateLimited
	}
	return nil
}

// lockOf is the account lock of the failure counter at key: it refuses at
// MaxUserFailures. No key, no lock.
func (e *Engine) lockOf(key string) store.Lock {
	if key == "" {
		return store.Lock{}
	}
	return store.Lock{Key: key, At: int64(e.cfg.OTP.MaxUserFailures)}
}

// storeCounters are the counters as the store spends them.
func storeCounters(counters []counter) []store.Counter {
	cs := make([]store.Counter, len(counters))
	for i, c := range counters {
		cs[i] = store.Counter{Key: c.key, Limit: int64(c.rate.Count), Window: c.rate.Window}
	}
	return cs
}

// giveBack takes one back from each counter (a key listed twice, twice),
// in one batch. Best effort: a store that fails here leaves the counters
// higher than they need to be, never lower.
func (e *Engine) giveBack(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	ops := make([]*store.Op, len(keys))
	for i, k := range keys {
		ops[i] = store.DecrOp(k)
	}
	store.Do(ctx, e.cfg.Store, ops...)
}

func keysOf(counters []counter) []string {
	keys := make([]string, len(counters))
	for i, c := range counters {
		keys[i] = c.key
	}
	return keys
}

// clientKey names a client by its IP for the delays of its wrong codes and
// passwords: an IPv6 client by its /64, which one subscriber usually holds
// whole. The delay falls on everyone counted together, so it is kept to
// one subscriber's network.
func clientKey(ip string) string { return prefixKey(ip, 64) }

// budgetClient names a client by its IP for its budgets of sends and
// logins: an IPv6 client by its /48. A /48 is what a site (or a hosting
// customer) is given, so one attacker often holds 65,536 /64s; counting
// by /64 would make them as many clients. Honest users who share a /48
// (a mobile carrier's pool) are counted together as those behind one
// IPv4 NAT are, and their proven codes and completed logins are given
// back.
func budgetClient(ip string) string { return prefixKey(ip, 48) }

// prefixKey is an IPv4 address, or the IPv6 prefix of bits holding ip.
func prefixKey(ip string, bits int) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	if addr.Is6() {
		prefix, _ := addr.WithZone("").Prefix(bits)
		return prefix.String()
	}
	return addr.String()
}
