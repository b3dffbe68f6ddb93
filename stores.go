package caddystepup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// StoreConfig chooses where challenges, codes, sessions, grants and replay
// markers are kept.
type StoreConfig struct {
	// `memory` (one instance; the default) or `redis` (shared by every
	// instance that uses the same Redis).
	Backend string `json:"backend,omitempty"`

	// Redis URL for a standalone server: redis://[user:password@]host:port/db
	// or rediss:// for TLS. Accepts {env.*} placeholders.
	URL string `json:"url,omitempty"`

	// Addresses (host:port) of Redis Cluster nodes (with cluster) or of
	// Sentinels (with sentinel_master).
	Addrs []string `json:"addrs,omitempty"`

	// Connect to a Redis Cluster. Default: false.
	Cluster bool `json:"cluster,omitempty"`

	// Name of the Sentinel master. Setting it selects Sentinel mode.
	SentinelMaster string `json:"sentinel_master,omitempty"`

	// Redis ACL user and password. Accept {env.*} placeholders; the password
	// never appears in logs.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	// Redis database number (standalone and Sentinel). Default: 0.
	DB int `json:"db,omitempty"`

	// Use TLS to reach Redis (for addrs; a rediss:// URL implies it).
	TLS bool `json:"tls,omitempty"`

	// Prefix of every key. Default: `stepup:`. Instances that must share
	// state use the same prefix; deployments that must not, another one.
	KeyPrefix string `json:"key_prefix,omitempty"`

	// Deadline of each store operation: a slower store counts as down and
	// requests fail closed (503). Default: 500ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Load even when a Redis master's maxmemory-policy is not
	// `noeviction`. Every key the gateway writes has a TTL, so under any
	// other policy (volatile-* included) Redis may drop attempt counters,
	// replay markers and consumed-grant markers when memory runs short: a
	// guess limit or a single-use grant would silently start over. Without
	// this word such a Redis fails the config load. Default: false.
	AllowEviction bool `json:"allow_eviction,omitempty"`

	// Make every consuming write (spending a grant, a login flow or a
	// ticket; a replay marker; a challenge's completion; a session's
	// rotation; an attempt counter) wait until this many replicas of its
	// master hold it (Redis WAIT), so that a failover to one of them does
	// not undo it. A write too few replicas acknowledge within
	// wait_timeout is answered 503 (it did happen on the master, so the
	// user may have to start that step again). Redis and Cluster only;
	// see the README's "Several instances". Default: 0 (no waiting).
	WaitReplicas int `json:"wait_replicas,omitempty"`

	// How long a write waits for those replicas. Must be shorter than
	// timeout. Default: half of timeout (250ms).
	WaitTimeout caddy.Duration `json:"wait_timeout,omitempty"`

	// How far Redis's clock (its TIME) may be from this instance's for the
	// instance to decide expiries by it. Every instance sharing Redis
	// decides codes, challenges, grants, sessions, token and DPoP-proof
	// times by Redis's clock, within this bound of its own; a measured
	// offset beyond it is not used (the instance keeps its own clock), a
	// change of more than a quarter of it at once is followed by a quarter
	// only, and either is logged as an error ("stepup.redis") and counted
	// in caddy_stepup_redis_clock_faults_total. Redis only; 1ms to 1h.
	// Default: 1s.
	MaxClockOffset caddy.Duration `json:"max_clock_offset,omitempty"`

	// memory: the most keys the store holds (about 300 bytes each). Past
	// 90% of it new logins are refused (503) so that the room left goes to
	// counters, replay markers and sessions; at the bound every new key is
	// refused (503). Nothing is ever evicted. Default: 1000000.
	MaxKeys int `json:"max_keys,omitempty"`
}

// routeRedisLog sends go-redis's own log lines (failed dials, Sentinel
// switches) to Caddy's log as "stepup.redis" warnings, once per process:
// go-redis has one logger for the whole process. caddy.Log() is read at
// each line, so the lines follow the logging config across reloads.
var routeRedisLog sync.Once

// stores shares one store per connection identity across config reloads,
// so a reload neither drops in-memory sessions nor reconnects to Redis.
var stores = caddy.NewUsagePool()

type pooledStore struct {
	store.Store
	conn *store.RedisConn // nil for memory
	// ledger keeps the revocation list: in Redis beside the store's keys,
	// or in memory for as long as the memory store lives.
	ledger store.Ledger
	close  func() error
}

// Destruct closes the connection when the last config lets go.
func (p pooledStore) Destruct() error { return p.close() }

// redisOptions are the connection settings of a redis store.
func (cfg *StoreConfig) redisOptions() store.RedisOptions {
	opts := store.RedisOptions{
		URL: cfg.URL, Addrs: cfg.Addrs, Cluster: cfg.Cluster, MasterName: cfg.SentinelMaster,
		Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, Timeout: time.Duration(cfg.Timeout),
		WaitReplicas: cfg.WaitReplicas, WaitTimeout: time.Duration(cfg.WaitTimeout),
		MaxClockOffset: time.Duration(cfg.MaxClockOffset), OnClockFault: reportClockFault,
	}
	if cfg.TLS {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opts
}

// revocationLedger names the revocation list's keys in Redis
// (<key_prefix>{revocations}:meta, :log, :ends) and its channel (:wake).
const revocationLedger = "revocations"

// openStore acquires the configured store from the pool: the memory
// store, or a Redis client, which it pings and whose eviction policy it
// checks; and the ledger of the revocation list in it. It runs at Start.
func (a *App) openStore(ctx context.Context) (store.Store, store.Ledger, error) {
	cfg := a.Store
	if cfg == nil {
		cfg = &StoreConfig{}
	}
	if cfg.Backend == "" || cfg.Backend == "memory" {
		a.storeKey = "memory"
		v, _, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
			m := store.NewMemory()
			return pooledStore{Store: m, ledger: store.NewMemoryLedger(nil), close: m.Close}, nil
		})
		if err != nil {
			return nil, nil, err
		}
		m := v.(pooledStore).Store.(*store.Memory)
		maxKeys := cfg.MaxKeys
		if maxKeys == 0 {
			maxKeys = store.DefaultMaxKeys
		}
		m.SetMaxKeys(maxKeys) // the store outlives reloads; the bound follows the config
		return m, v.(pooledStore).ledger, nil
	}
	opts := cfg.redisOptions()
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = store.DefaultKeyPrefix
	}
	a.storeKey = "redis|" + opts.Identity() + "|" + prefix
	routeRedisLog.Do(func() {
		store.RouteRedisLog(func(msg string, dropped int) {
			caddy.Log().Named("stepup.redis").Warn(msg, zap.Int("dropped", dropped))
		})
	})
	v, _, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
		conn, err := store.DialRedis(opts)
		if err != nil {
			return nil, err
		}
		return pooledStore{Store: store.NewRedis(conn, prefix), conn: conn, ledger: store.NewRedisLedger(conn, prefix, revocationLedger),
			close: conn.Close}, nil
	})
	if err != nil {
		a.storeKey = ""
		return nil, nil, fmt.Errorf("store: %v", err)
	}
	pooled := v.(pooledStore)
	// A config whose store can't be reached fails to load, saying why.
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pooled.Ping(pingCtx); err != nil {
		return nil, nil, fmt.Errorf("store: redis is not reachable: %v", err)
	}
	if !cfg.AllowEviction {
		if err := pooled.conn.CheckNoEviction(pingCtx); err != nil {
			if errors.Is(err, store.ErrEvicting) {
				return nil, nil, fmt.Errorf("%v: set `maxmemory-policy noeviction` on Redis, or write allow_eviction in the store block "+
					"to accept that attempt counters, replay markers and single-use grants may be lost", err)
			}
			return nil, nil, fmt.Errorf("store: reading redis's maxmemory-policy: %v", err)
		}
	}
	return pooled.Store, pooled.ledger, nil
}

// reportClockFault logs a refused measurement of Redis's clock and counts
// it. It is shared by every connection of the process (connections
// outlive configs), so it reads the logger at each call.
func reportClockFault(f store.ClockFault) {
	telemetry.ClockFault(f.Reason)
	caddy.Log().Named("stepup.redis").Error("redis clock not trusted",
		zap.String("reason", f.Reason), zap.Duration("measured_offset", f.Measured),
		zap.Duration("offset_in_use", f.InUse), zap.Duration("max_clock_offset", f.Bound))
}

// releaseStore gives back the pooled store Start acquired, if any.
func (a *App) releaseStore() {
	if a.storeKey == "" {
		return
	}
	if _, err := stores.Delete(a.storeKey); err != nil {
		a.logger.Error("releasing store", zap.Error(err))
	}
	a.storeKey = ""
}
