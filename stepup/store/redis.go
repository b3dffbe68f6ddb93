package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix is put before every key when NewRedis gets an empty prefix.
const DefaultKeyPrefix = "stepup:"

// Redis is a Store in Redis, shared by every gateway instance that uses the
// same deployment and prefix. Every method touches one key (Delete
// deletes key by key), so all of them work on Redis Cluster; operations
// that read and write run as one Lua script, so they are atomic. Batches
// (redis_batch.go) send several in one pipeline; an attempt touches two
// keys of one slot, and a spend's script its counters' keys, which lie in
// several slots, on a deployment that is no Cluster only. It needs Redis
// 6.2 or later.
type Redis struct {
	conn   *RedisConn
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store over conn whose keys all start with keyPrefix
// (DefaultKeyPrefix when empty). The prefix must not contain '{' or '}', so
// that the hash tags in callers' keys decide the Cluster slot. The store
// never closes conn.
func NewRedis(conn *RedisConn, keyPrefix string) *Redis {
	if keyPrefix == "" {
		keyPrefix = DefaultKeyPrefix
	}
	return &Redis{conn: conn, prefix: keyPrefix}
}

// The Lua scripts. Each touches only KEYS[1], so it runs on Cluster. The
// ones that consume or change state start with guardLua: ARGV[1] and
// ARGV[2] bound when it may run, and the script does nothing outside
// (see redis_deadline.go); their own arguments start at ARGV[3].
var (
	// createScript: SET NX PX; 0 = the key exists, 1 = created.
	createScript = redis.NewScript(guardLua + `
if redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4], 'NX') then return 1 end
return 0`)

	// swapScript: 0 = absent, 1 = different value, 2 = swapped.
	swapScript = redis.NewScript(guardLua + `
local v = redis.call('GET', KEYS[1])
if v == false then return 0 end
if v ~= ARGV[3] then return 1 end
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
return 2`)

	// takeScript: GETDEL; {} when absent, {value} when taken.
	takeScript = redis.NewScript(guardLua + `
local v = redis.call('GET', KEYS[1])
if v == false then return {} end
redis.call('DEL', KEYS[1])
return {v}`)

	// incrScript sets the expiry only on a key that has none, i.e. a new
	// counter (PEXPIRE ... NX would need Redis 7).
	incrScript = redis.NewScript(guardLua + `
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return n`)

	// decrScript takes one from a positive counter, keeping its expiry.
	decrScript = redis.NewScript(guardLua + `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > 0 then redis.call('DECR', KEYS[1]) end
return 1`)

	// addMemberScript extends the expiry to max(current, ttl); a new set
	// has PTTL -1, so it always gets ttl.
	addMemberScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`)
)

// op derives the per-operation context carrying the deadline.
func (r *Redis) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.conn.timeout)
}

// key prefixes k.
func (r *Redis) key(k string) string { return r.prefix + k }

// millis is ttl in whole milliseconds, at least 1, for PX and PEXPIRE.
func millis(ttl time.Duration) int64 {
	return max(1, int64((ttl+time.Millisecond-1)/time.Millisecond))
}

// Get returns the value stored under key.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	v, err := r.conn.client.Get(ctx, r.key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, r.conn.fail(err)
	}
	return v, nil
}

// Set stores value under key for ttl (SET PX).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	return r.conn.fail(r.conn.client.Do(ctx, "SET", r.key(key), value, "PX", millis(ttl)).Err())
}

// Create stores value under key for ttl only if key is absent (SET NX PX,
// guarded by the deadline).
func (r *Redis) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	created, err := r.runGuarded(ctx, createScript, key, value, millis(ttl)).Int64()
	if err != nil {
		return r.conn.failGuarded(err)
	}
	if created == 0 {
		return ErrExists
	}
	return nil
}

// Swap replaces the value under key, and resets its expiry, if the current
// value equals old (a Lua GET-compare-SET).
func (r *Redis) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	res, err := r.runGuarded(ctx, swapScript, key, old, value, millis(ttl)).Int64()
	if err != nil {
		return r.conn.failGuarded(err)
	}
	switch res {
	case 0:
		return ErrNotFound
	case 1:
		return ErrConflict
	default:
		return nil
	}
}

// Take returns the value under key and deletes it (GET and DEL in a
// script guarded by the deadline).
func (r *Redis) Take(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	res, err := r.runGuarded(ctx, takeScript, key).Slice()
	if err != nil {
		return nil, r.conn.failGuarded(err)
	}
	if len(res) == 0 {
		return nil, ErrNotFound
	}
	v, ok := res[0].(string)
	if !ok {
		return nil, r.conn.fail(errors.New("take: unexpected reply"))
	}
	return []byte(v), nil
}

// Incr adds one to the counter at key; a new counter expires after ttl.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	n, err := r.runGuarded(ctx, incrScript, key, millis(ttl)).Int64()
	if err != nil {
		return 0, r.conn.failGuarded(err)
	}
	return n, nil
}

// Decr takes one from a positive counter at key (a guarded script).
func (r *Redis) Decr(ctx context.Context, key string) error {
	ctx, cancel := r.op(ctx)
	defer cancel()
	return r.conn.failGuarded(r.runGuarded(ctx, decrScript, key).Err())
}

// Delete removes the keys, one DEL per key in a pipeline so that keys in
// different Cluster slots can be deleted together (not atomically).
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	_, err := r.conn.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, r.key(k))
		}
		return nil
	})
	return r.conn.fail(err)
}

// AddMember adds member to the set at key and extends its expiry to at
// least ttl from now (a Lua SADD plus PEXPIRE).
func (r *Redis) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	return r.conn.fail(addMemberScript.Run(ctx, r.conn.client, []string{r.key(key)}, member, millis(ttl)).Err())
}

// RemoveMember removes member from the set at key (SREM).
func (r *Redis) RemoveMember(ctx context.Context, key, member string) error {
	ctx, cancel := r.op(ctx)
	defer cancel()
	return r.conn.fail(r.conn.client.SRem(ctx, r.key(key), member).Err())
}

// Members lists the set at key in sorted order (empty when absent).
func (r *Redis) Members(ctx context.Context, key string) ([]string, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	m, err := r.conn.client.SMembers(ctx, r.key(key)).Result()
	if err != nil {
		return nil, r.conn.fail(err)
	}
	slices.Sort(m)
	if m == nil {
		m = []string{}
	}
	return m, nil
}

// Ping checks that Redis answers within the deadline.
func (r *Redis) Ping(ctx context.Context) error {
	return r.conn.Ping(ctx)
}
