package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisConn is a client for one Redis deployment (standalone, Sentinel or
// Cluster) with its connection pool. It is safe for concurrent use and meant
// to be shared, keyed by RedisOptions.Identity, by every store that talks to
// the same deployment. Whoever dials it closes it.
type RedisConn struct {
	client  redis.UniversalClient
	timeout time.Duration
	secrets []string // passwords to scrub from error messages
}

// DialRedis builds the client described by opts. It does no I/O: call Ping
// to find out whether Redis answers.
func DialRedis(opts RedisOptions) (*RedisConn, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &RedisConn{timeout: opts.timeout()}
	for _, s := range []string{opts.Password, opts.SentinelPassword, urlPassword(opts.URL)} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}

	if opts.URL != "" {
		o, err := parseRedisURL(opts.URL)
		if err != nil {
			return nil, errors.New(c.scrub(err.Error()))
		}
		if opts.Username != "" {
			o.Username = opts.Username
		}
		if opts.Password != "" {
			o.Password = opts.Password
		}
		if opts.DB != 0 {
			o.DB = opts.DB
		}
		if opts.TLS != nil {
			o.TLSConfig = opts.TLS
		}
		if opts.PoolSize != 0 {
			o.PoolSize = opts.PoolSize
		}
		c.applyTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout)
		o.ContextTimeoutEnabled = true
		o.DialerRetries = dialAttempts
		o.MaintNotificationsConfig = noMaintNotifications()
		c.client = redis.NewClient(o)
		return c, nil
	}

	u := &redis.UniversalOptions{
		Addrs:                    opts.Addrs,
		IsClusterMode:            opts.Cluster,
		MasterName:               opts.MasterName,
		Username:                 opts.Username,
		Password:                 opts.Password,
		SentinelUsername:         opts.SentinelUsername,
		SentinelPassword:         opts.SentinelPassword,
		DB:                       opts.DB,
		TLSConfig:                opts.TLS,
		PoolSize:                 opts.PoolSize,
		ContextTimeoutEnabled:    true,
		DialerRetries:            dialAttempts,
		MaintNotificationsConfig: noMaintNotifications(),
	}
	c.applyTimeouts(&u.DialTimeout, &u.ReadTimeout, &u.WriteTimeout, &u.PoolTimeout)
	if len(opts.Addrs) > 1 && !opts.Cluster && opts.MasterName == "" {
		// go-redis would silently treat several addresses as a cluster.
		return nil, errors.New("store: several redis addresses need Cluster or a Sentinel master name")
	}
	c.client = redis.NewUniversalClient(u)
	return c, nil
}

// dialAttempts is how many times one operation tries to open a connection.
// go-redis defaults to 5 with backoff, which only burns the operation's
// deadline: a store that refuses connections is unavailable now, and the
// next request dials again.
const dialAttempts = 1

// parseRedisURL accepts only redis:// and rediss:// URLs.
func parseRedisURL(raw string) (*redis.Options, error) {
	if !strings.HasPrefix(raw, "redis://") && !strings.HasPrefix(raw, "rediss://") {
		return nil, errors.New("store: redis URL must start with redis:// or rediss://")
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, describeURLError(err)
	}
	return o, nil
}

// noMaintNotifications turns off go-redis's maintenance-notification
// handshake, which self-hosted Redis does not speak and which would only add
// a round trip and log noise.
func noMaintNotifications() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// applyTimeouts bounds dialing, reading, writing and waiting for a pooled
// connection by the operation deadline.
func (c *RedisConn) applyTimeouts(fields ...*time.Duration) {
	for _, f := range fields {
		*f = c.timeout
	}
}

// Ping checks that Redis answers within the deadline; on a Cluster every
// master must answer. Failures wrap ErrUnavailable.
func (c *RedisConn) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var err error
	if cc, ok := c.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.Ping(ctx).Err()
		})
	} else {
		err = c.client.Ping(ctx).Err()
	}
	return c.fail(err)
}

// Close closes the client and its connections.
func (c *RedisConn) Close() error {
	return c.client.Close()
}

// fail maps a go-redis error to the store's: nil stays nil, anything else is
// ErrUnavailable with the secrets removed from the cause. Callers handle
// redis.Nil before calling it.
func (c *RedisConn) fail(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(errors.New(c.scrub(err.Error())))
}

// scrub removes every configured password from msg.
func (c *RedisConn) scrub(msg string) string {
	for _, s := range c.secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}
