package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLedger is a Ledger in Redis: three keys in one Cluster slot (the
// hash tag is the ledger's name) and a pub/sub channel.
//
//   - <prefix>{<name>}:meta, a hash: epoch (random, set when the ledger
//     starts) and seq (the last write's sequence number);
//   - <prefix>{<name>}:log, a sorted set: member → the sequence of its
//     last write;
//   - <prefix>{<name>}:ends, a sorted set: member → its end (Unix ms).
//
// Every key lives until the latest end (each write raises the TTLs, never
// lowers them), and each write forgets a few members whose end has passed.
// The channel <prefix>{<name>}:wake carries each write's sequence number.
// Plain PUBLISH reaches subscribers on every node of a Cluster, so one
// subscription on any node hears every write.
type RedisLedger struct {
	conn                  *RedisConn
	meta, log, ends, wake string
}

var _ Ledger = (*RedisLedger)(nil)

// NewRedisLedger returns the ledger name under prefix (DefaultKeyPrefix
// when empty) on conn. name must not contain '{' or '}'.
func NewRedisLedger(conn *RedisConn, prefix, name string) *RedisLedger {
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	base := prefix + "{" + name + "}:"
	return &RedisLedger{conn: conn, meta: base + "meta", log: base + "log", ends: base + "ends", wake: base + "wake"}
}

// forgetPerWrite bounds the ended members one write removes, so that a
// write's work stays small however many ended at once (the rest go with
// the next writes, or with the keys).
const forgetPerWrite = 64

var (
	// ledgerPutScript: KEYS meta, log, ends; ARGV member, end (Unix ms),
	// a new epoch (used only if the ledger has none), the channel.
	// Returns the write's sequence number, 0 when the end has passed.
	ledgerPutScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ends = tonumber(ARGV[2])
if ends <= now then return 0 end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[3], 'GT', ends, ARGV[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, ` + strconv.Itoa(forgetPerWrite) + `)
if #gone > 0 then
  redis.call('ZREM', KEYS[3], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
end
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
local ttl = math.max(tonumber(last[2]) - now, 1)
for i = 1, 3 do
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
redis.call('PUBLISH', ARGV[4], seq)
return seq`)

	// ledgerReadScript: KEYS meta, log, ends; ARGV epoch, seq, limit.
	// Returns {epoch, member, end, seq, member, end, seq, ...}; epoch is
	// "" when the ledger is empty, and the members start from the
	// beginning when it is not ARGV[1].
	ledgerReadScript = redis.NewScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {''} end
local from = tonumber(ARGV[2])
if epoch ~= ARGV[1] then from = 0 end
local items = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. from, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {epoch}
for i = 1, #items, 2 do
  out[#out + 1] = items[i]
  out[#out + 1] = redis.call('ZSCORE', KEYS[3], items[i]) or '0'
  out[#out + 1] = items[i + 1]
end
return out`)
)

// Put records member until until.
func (l *RedisLedger) Put(ctx context.Context, member string, until time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, l.conn.timeout)
	defer cancel()
	keys := []string{l.meta, l.log, l.ends}
	err := ledgerPutScript.Run(ctx, l.conn.client, keys, member, until.UnixMilli(), newEpoch(), l.wake).Err()
	return l.conn.fail(err)
}

// Read returns at most limit members written after from.
func (l *RedisLedger) Read(ctx context.Context, from LedgerCursor, limit int) (LedgerPage, error) {
	ctx, cancel := context.WithTimeout(ctx, l.conn.timeout)
	defer cancel()
	keys := []string{l.meta, l.log, l.ends}
	res, err := ledgerReadScript.Run(ctx, l.conn.client, keys, from.Epoch, from.Seq, limit).StringSlice()
	if err != nil {
		return LedgerPage{}, l.conn.fail(err)
	}
	if len(res) == 0 || (len(res)-1)%3 != 0 {
		return LedgerPage{}, unavailable(errors.New("store: unexpected ledger reply"))
	}
	page := LedgerPage{Next: LedgerCursor{Epoch: res[0], Seq: from.Seq}}
	if res[0] != from.Epoch {
		page.Reset, page.Next.Seq = from != (LedgerCursor{}), 0
	}
	for i := 1; i < len(res); i += 3 {
		ends, err1 := strconv.ParseInt(res[i+1], 10, 64)
		seq, err2 := strconv.ParseInt(res[i+2], 10, 64)
		if err1 != nil || err2 != nil {
			return LedgerPage{}, unavailable(fmt.Errorf("store: unexpected ledger reply %q %q", res[i+1], res[i+2]))
		}
		page.Records = append(page.Records, LedgerRecord{Member: res[i], Until: time.UnixMilli(ends)})
		page.Next.Seq = seq
	}
	page.More = limit > 0 && len(page.Records) == limit
	return page, nil
}

// Watch subscribes to the ledger's channel and calls wake for each
// message and after each (re)subscription, until ctx ends. A subscription
// that fails, or stays silent without answering a ping, is replaced after
// a short pause; on a Cluster the slot map is read again first, so that a
// failed-over node is not dialled again.
func (l *RedisLedger) Watch(ctx context.Context, wake func()) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		if l.watchOnce(ctx, wake) {
			pause = 100 * time.Millisecond
		}
		if l.conn.cluster != nil {
			l.conn.cluster.ReloadState(ctx)
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// watchQuiet is how long a subscription may stay silent before it is
// pinged; a ping not answered within the store's timeout ends it.
const watchQuiet = 5 * time.Second

// watchOnce runs one subscription until it fails or ctx ends; it reports
// whether the subscription was established.
func (l *RedisLedger) watchOnce(ctx context.Context, wake func()) bool {
	sub := l.conn.client.Subscribe(ctx)
	defer sub.Close()
	subCtx, cancel := context.WithTimeout(ctx, l.conn.timeout)
	err := sub.Subscribe(subCtx, l.wake)
	if err == nil {
		_, err = sub.ReceiveTimeout(subCtx, l.conn.timeout) // the subscription's confirmation
	}
	cancel()
	if err != nil {
		return false
	}
	wake() // what was written while no subscription listened
	pinged := false
	for ctx.Err() == nil {
		wait := watchQuiet
		if pinged {
			wait = l.conn.timeout
		}
		msg, err := sub.ReceiveTimeout(ctx, wait)
		if err != nil {
			if pinged || !isTimeout(err) {
				return true
			}
			if sub.Ping(ctx) != nil {
				return true
			}
			pinged = true
			continue
		}
		pinged = false
		if _, ok := msg.(*redis.Message); ok {
			wake()
		}
	}
	return true
}

// isTimeout reports a read that timed out (nothing arrived).
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "i/o timeout")
}
