package caddystepup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

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

// revocationLedger names the revocation list's keys in Redis
// (<key_prefix>{revocations}:meta, :log, :ends) and its channel (:wake).
const revocationLedger = "revocations"

// openStore acquires the configured store from the pool: the memory
// store, or a Redis client, which it pings and whose eviction policy it
// checks; and the ledger of the revocation list in it. It runs at Start.
func (a *App) openStore(ctx context.Context) (store.Store, store.Ledger, error) {
	cfg := a.Store
	if cfg == nil {
		cfg = &appconfig.StoreConfig{}
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
	opts := cfg.RedisOptions()
	opts.OnClockFault = reportClockFault
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
