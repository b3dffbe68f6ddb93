package appconfig

import (
	"crypto/tls"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
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
	Timeout Duration `json:"timeout,omitempty"`

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
	WaitTimeout Duration `json:"wait_timeout,omitempty"`

	// How far Redis's clock (its TIME) may be from this instance's for the
	// instance to decide expiries by it. Every instance sharing Redis
	// decides codes, challenges, grants, sessions, token and DPoP-proof
	// times by Redis's clock, within this bound of its own; a measured
	// offset beyond it is not used (the instance keeps its own clock), a
	// change of more than a quarter of it at once is followed by a quarter
	// only, and either is logged as an error ("stepup.redis") and counted
	// in caddy_stepup_redis_clock_faults_total. Redis only; 1ms to 1h.
	// Default: 1s.
	MaxClockOffset Duration `json:"max_clock_offset,omitempty"`

	// memory: the most keys the store holds (about 300 bytes each). Past
	// 90% of it new logins are refused (503) so that the room left goes to
	// counters, replay markers and sessions; at the bound every new key is
	// refused (503). Nothing is ever evicted. Default: 1000000.
	MaxKeys int `json:"max_keys,omitempty"`
}

// RedisOptions are the connection settings of a redis store.
func (cfg *StoreConfig) RedisOptions() store.RedisOptions {
	opts := store.RedisOptions{
		URL: cfg.URL, Addrs: cfg.Addrs, Cluster: cfg.Cluster, MasterName: cfg.SentinelMaster,
		Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, Timeout: time.Duration(cfg.Timeout),
		WaitReplicas: cfg.WaitReplicas, WaitTimeout: time.Duration(cfg.WaitTimeout),
		MaxClockOffset: time.Duration(cfg.MaxClockOffset),
	}
	if cfg.TLS {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opts
}
