package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxMaxClockOffset is the largest MaxClockOffset accepted: beyond it the
// bound would hardly bound anything the gateway decides (codes live
// minutes).
const MaxMaxClockOffset = time.Hour

// DefaultRedisTimeout is the per-operation deadline used when
// RedisOptions.Timeout is zero: a store slower than this is unavailable.
const DefaultRedisTimeout = 500 * time.Millisecond

// RedisOptions say how to reach Redis. Exactly one of Addrs and URL is set.
type RedisOptions struct {
	// Addrs is a host:port list: one address is a standalone server;
	// several with Cluster are cluster seeds; with MasterName they are
	// Sentinels.
	Addrs []string
	// URL is the alternative to Addrs for a standalone server: a redis:// or
	// rediss:// URL as parsed by go-redis (user, password, host, port, /db,
	// query options). Username, Password and DB, when set, override the
	// URL's.
	URL string
	// Cluster selects Redis Cluster; Addrs are seeds.
	Cluster bool
	// MasterName selects Sentinel: the name of the monitored master.
	MasterName string
	// Username and Password authenticate to Redis (ACL user or requirepass).
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the Sentinels.
	SentinelUsername, SentinelPassword string
	// DB is the logical database (standalone and Sentinel only).
	DB int
	// TLS, when non-nil, encrypts connections with this configuration.
	TLS *tls.Config
	// Timeout is the deadline of every operation, dial included; zero means
	// DefaultRedisTimeout.
	Timeout time.Duration
	// PoolSize caps connections per node; zero keeps go-redis's default.
	PoolSize int
	// WaitReplicas, when positive, makes every consuming write (Create,
	// Swap, Take, Incr) wait until that many replicas of its master
	// acknowledge it (Redis WAIT) before it counts as done; a write they
	// don't acknowledge within WaitTimeout fails with ErrUnavailable
	// (having happened on the master). Zero: no waiting.
	WaitReplicas int
	// WaitTimeout bounds that wait; zero means half of Timeout. It must be
	// shorter than Timeout.
	WaitTimeout time.Duration
	// MaxClockOffset bounds how far Redis's clock may be from the
	// instance's for the instance to use it (see redis_clock.go); zero
	// means DefaultMaxClockOffset.
	MaxClockOffset time.Duration
	// OnClockFault, when set, receives every measurement of Redis's clock
	// that was refused or only partly adopted (too far, a jump, samples
	// that contradict each other). It is called from the measurement's
	// goroutine: keep it quick.
	OnClockFault func(ClockFault)
	// LocalClock is the instance's clock, from which the offset to Redis's
	// clock is measured (see RedisConn.Now); nil means time.Now. Tests of
	// clock skew set a wrong one.
	LocalClock func() time.Time
}

// maxClockOffset returns the effective bound of Redis's clock offset.
func (o RedisOptions) maxClockOffset() time.Duration {
	if o.MaxClockOffset == 0 {
		return DefaultMaxClockOffset
	}
	return o.MaxClockOffset
}

// waitTimeout returns the effective WAIT timeout.
func (o RedisOptions) waitTimeout() time.Duration {
	if o.WaitTimeout == 0 {
		return o.timeout() / 2
	}
	return o.WaitTimeout
}

// timeout returns the effective per-operation deadline.
func (o RedisOptions) timeout() time.Duration {
	if o.Timeout == 0 {
		return DefaultRedisTimeout
	}
	return o.Timeout
}

// Validate rejects contradictory or incomplete options. Its messages never
// quote the URL, which may carry a password.
func (o RedisOptions) Validate() error {
	switch {
	case len(o.Addrs) == 0 && o.URL == "":
		return errors.New("store: redis needs addresses or a URL")
	case len(o.Addrs) > 0 && o.URL != "":
		return errors.New("store: redis addresses and URL are exclusive")
	case o.URL != "" && (o.Cluster || o.MasterName != ""):
		return errors.New("store: a redis URL is for a standalone server; use addresses for Cluster or Sentinel")
	case o.Cluster && o.MasterName != "":
		return errors.New("store: redis Cluster and Sentinel master name are exclusive")
	case o.Cluster && o.DB != 0:
		return errors.New("store: Redis Cluster has only database 0")
	case o.DB < 0:
		return errors.New("store: redis database must not be negative")
	case o.Timeout < 0:
		return errors.New("store: redis timeout must not be negative")
	case o.PoolSize < 0:
		return errors.New("store: redis pool size must not be negative")
	case o.WaitReplicas < 0:
		return errors.New("store: redis wait_replicas must not be negative")
	case o.WaitTimeout < 0 || (o.WaitReplicas > 0 && o.waitTimeout() < time.Millisecond):
		return errors.New("store: redis wait timeout must be at least 1ms")
	case o.WaitReplicas > 0 && o.waitTimeout() >= o.timeout():
		return errors.New("store: redis wait timeout must be shorter than the operation timeout")
	case o.MaxClockOffset < 0 || o.MaxClockOffset > MaxMaxClockOffset:
		return fmt.Errorf("store: redis max_clock_offset must be between 1ms and %v", MaxMaxClockOffset)
	case o.MaxClockOffset > 0 && o.MaxClockOffset < time.Millisecond:
		return errors.New("store: redis max_clock_offset must be at least 1ms")
	}
	for _, a := range o.Addrs {
		if strings.TrimSpace(a) == "" {
			return errors.New("store: empty redis address")
		}
	}
	return nil
}

// identityKey keys the password fingerprints in Identity. It is random per
// process: fingerprints are stable for the life of the process (which is
// what a connection pool needs) but useless to anyone who sees them.
var identityKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported systems
	return k
}()

// Identity returns a stable string naming the connection these options
// describe, for keying a shared pool of clients across config reloads:
// sorted addresses, the URL without its password, cluster, master name,
// usernames, DB, TLS (on/off, server name, verification off), timeout,
// pool size, replica wait and the clock bound. It never contains a password: changed passwords show up as a
// changed keyed fingerprint (HMAC with a per-process random key), so a
// reload with a rotated password gets a new client. Other TLS settings
// (roots, certificates) are not part of it.
func (o RedisOptions) Identity() string {
	var b strings.Builder
	addrs := slices.Clone(o.Addrs)
	slices.Sort(addrs)
	fmt.Fprintf(&b, "addrs=%s", strings.Join(addrs, ","))
	fmt.Fprintf(&b, " url=%s", redactURL(o.URL))
	fmt.Fprintf(&b, " cluster=%t master=%q user=%q sentinel_user=%q db=%d",
		o.Cluster, o.MasterName, o.Username, o.SentinelUsername, o.DB)
	fmt.Fprintf(&b, " pass=%s sentinel_pass=%s", fingerprint(o.Password), fingerprint(o.SentinelPassword))
	if o.TLS == nil {
		b.WriteString(" tls=off")
	} else {
		fmt.Fprintf(&b, " tls=on tls_server=%q tls_insecure=%t", o.TLS.ServerName, o.TLS.InsecureSkipVerify)
	}
	fmt.Fprintf(&b, " timeout=%s pool=%d", o.timeout(), o.PoolSize)
	if o.WaitReplicas > 0 {
		fmt.Fprintf(&b, " wait=%d/%s", o.WaitReplicas, o.waitTimeout())
	}
	fmt.Fprintf(&b, " clock=%s", o.maxClockOffset())
	return b.String()
}

// fingerprint is a short keyed hash of a secret, or "-" when it is empty.
func fingerprint(secret string) string {
	if secret == "" {
		return "-"
	}
	mac := hmac.New(sha256.New, identityKey)
	mac.Write([]byte(secret))
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// redactURL returns raw without secrets: the password is replaced by its
// fingerprint and query parameters that look secret are dropped. An
// unparsable URL is not echoed at all.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid)"
	}
	if u.User != nil {
		pass, hasPass := u.User.Password()
		if hasPass {
			u.User = url.UserPassword(u.User.Username(), "fp-"+fingerprint(pass))
		}
	}
	q := u.Query()
	for name := range q {
		if secretParam(name) {
			q.Del(name)
		}
	}
	u.RawQuery = q.Encode() // Encode sorts by name: a stable form
	u.Fragment = ""
	return u.String()
}

// secretParam reports whether a URL query parameter may hold a credential.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, word := range []string{"pass", "secret", "token", "auth", "key"} {
		if strings.Contains(n, word) {
			return true
		}
	}
	return false
}

// urlPassword returns the password in raw, if any, so it can be scrubbed from
// error messages.
func urlPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// describeURLError explains a URL go-redis could not parse without quoting
// the URL: url.Error carries the whole string, password included.
func describeURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("store: invalid redis URL: %v", ue.Err)
	}
	return fmt.Errorf("store: invalid redis URL: %v", err)
}
