package store

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
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
	cluster *redis.ClusterClient // the same client when it is a Cluster's
	timeout time.Duration
	secrets []string // passwords to scrub from error messages
	clock   redisClock
	// waitReplicas and waitTimeout: consuming writes wait for this many
	// replicas (WAIT), for at most waitTimeout; 0 replicas: no wait.
	waitReplicas int
	waitTimeout  time.Duration
	local        func() time.Time // the instance's clock
	maxOffset    time.Duration    // the bound of Redis's clock offset (redis_clock.go)
	onFault      func(ClockFault) // nil: faults are not reported
	// scriptsLoaded says that the scripts batches send by SHA were loaded
	// (redis_batch.go); a NOSCRIPT answer clears it.
	scriptsLoaded atomic.Bool
}

// DialRedis builds the client described by opts. It does no I/O: call Ping
// to find out whether Redis answers.
func DialRedis(opts RedisOptions) (*RedisConn, error) {
	c, err := dialRedis(opts)
	if err != nil {
		return nil, err
	}
	redisLog.watch(c)
	return c, nil
}

func dialRedis(opts RedisOptions) (*RedisConn, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &RedisConn{timeout: opts.timeout(), waitReplicas: opts.WaitReplicas, waitTimeout: opts.waitTimeout(), local: opts.LocalClock,
		maxOffset: opts.maxClockOffset(), onFault: opts.OnClockFault}
	if c.local == nil {
		c.local = time.Now
	}
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

	if len(opts.Addrs) > 1 && !opts.Cluster && opts.MasterName == "" {
		// go-redis would silently treat several addresses as a cluster.
		return nil, errors.New("store: several redis addresses need Cluster or a Sentinel master name")
	}
	if opts.Cluster {
		co := &redis.ClusterOptions{
			Addrs:                      opts.Addrs,
			Username:                   opts.Username,
			Password:                   opts.Password,
			TLSConfig:                  opts.TLS,
			PoolSize:                   opts.PoolSize,
			ContextTimeoutEnabled:      true,
			DialerRetries:              dialAttempts,
			MaintNotificationsConfig:   noMaintNotifications(),
			ClusterStateReloadInterval: clusterStateMaxAge,
		}
		c.applyTimeouts(&co.DialTimeout, &co.ReadTimeout, &co.WriteTimeout, &co.PoolTimeout)
		c.cluster = redis.NewClusterClient(co)
		c.client = c.cluster
		return c, nil
	}

	u := &redis.UniversalOptions{
		Addrs:                    opts.Addrs,
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
	c.client = redis.NewUniversalClient(u)
	return c, nil
}

// clusterStateMaxAge bounds how old the Cluster slot map may get while
// commands succeed. go-redis reloads it on MOVED, ASK and READONLY replies,
// but not when a master stops answering: after a failover it would keep
// dialling the dead master until this age (60 s by default). fail() asks
// for a reload on every connection-level error too, so the new master is
// found within one reload of its promotion; this timer is only the backstop.
const clusterStateMaxAge = 10 * time.Second

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
	if err != nil {
		return c.fail(err)
	}
	// Measured now, so that the first guarded command uses a real offset.
	return c.measureClock(ctx)
}

// Close closes the client and its connections.
func (c *RedisConn) Close() error {
	redisLog.forget(c)
	return c.client.Close()
}

// fail maps a go-redis error to the store's: nil stays nil, anything else is
// ErrUnavailable with the secrets removed from the cause. Callers handle
// redis.Nil before calling it.
func (c *RedisConn) fail(err error) error {
	if err == nil {
		return nil
	}
	c.reloadClusterOn(err)
	return unavailable(errors.New(c.scrub(err.Error())))
}

// reloadClusterOn asks go-redis to read the Cluster's slot map again when
// err says a node could not be reached (refused, reset, timed out) rather
// than answered: after a failover the slots' new master is then used as
// soon as a node reports it. go-redis runs one reload at a time and at
// most one every 200 ms, so a burst of errors costs one CLUSTER SLOTS.
func (c *RedisConn) reloadClusterOn(err error) {
	if c.cluster == nil {
		return
	}
	var answered redis.Error
	if errors.As(err, &answered) && !isClusterDownError(answered) {
		return // the node answered: its reply is the error, not the topology
	}
	c.cluster.ReloadState(context.Background())
}

// isClusterDownError reports replies that mean the slot map moves: the
// node is in a cluster that lost a master (CLUSTERDOWN), or sent us to a
// node that is not the master any more (MASTERDOWN, TRYAGAIN).
func isClusterDownError(err redis.Error) bool {
	msg := err.Error()
	for _, prefix := range []string{"CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// scrub removes every configured password from msg.
func (c *RedisConn) scrub(msg string) string {
	for _, s := range c.secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}
