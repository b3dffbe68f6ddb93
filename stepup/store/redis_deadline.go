package store

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"
)

// Late execution. When Redis stalls (a full fsync, a paused or swapped
// process, a saturated network), a command the gateway gave up on after
// its deadline still sits in the socket and runs when Redis resumes. For a
// command that consumes something (a grant, a login flow, a code attempt,
// a refresh-token rotation) that is a loss the user never saw succeed: the
// request was answered 503, yet the state is spent. So every consuming
// command is a script that first compares Redis's clock (TIME) with the
// deadline the gateway set, translated into Redis's clock, and does
// nothing when it runs too late.
//
// The translation uses the offset between the two clocks, measured with
// TIME (corrected by half the round trip) when the connection is first
// used and again at most every clockRecheck. A late verdict that the
// gateway's own clock contradicts (the offset went stale, say after a
// clock step) triggers a new measurement; the request is refused either
// way, failing closed.

// lateReply starts the error a guarded script returns when it ran past its
// deadline.
const lateReply = "LATE"

// errLate wraps ErrUnavailable: the command arrived after its deadline and
// did nothing.
var errLate = errors.New("store: command reached redis after its deadline and did nothing")

// clockRecheck is how often the offset to Redis's clock is measured again.
const clockRecheck = 30 * time.Second

// redisClock holds the measured offset (Redis time minus local time).
type redisClock struct {
	offsetMillis atomic.Int64
	measuredAt   atomic.Int64 // unix nanos of the last measurement; 0 = never
	measuring    atomic.Bool
}

// deadline returns the Redis-clock deadline, in milliseconds, for an
// operation whose context ends at local time d.
func (c *RedisConn) deadline(ctx context.Context) int64 {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(c.timeout)
	}
	// The deadline is on the monotonic clock; the time left, added to
	// Redis's clock as this connection knows it.
	return c.Now().Add(time.Until(d)).UnixMilli()
}

// maybeRemeasure measures the offset in the background when it is older
// than clockRecheck; one measurement at a time.
func (k *redisClock) maybeRemeasure(c *RedisConn) {
	last := k.measuredAt.Load()
	if last != 0 && time.Since(time.Unix(0, last)) < clockRecheck {
		return
	}
	if !k.measuring.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer k.measuring.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		_ = c.measureClock(ctx)
	}()
}

// measureClock reads Redis's TIME and records the offset to the local clock.
func (c *RedisConn) measureClock(ctx context.Context) error {
	sent := c.local()
	t, err := c.client.Time(ctx).Result()
	if err != nil {
		return c.fail(err)
	}
	received := c.local()
	local := sent.Add(received.Sub(sent) / 2)
	c.clock.offsetMillis.Store(t.UnixMilli() - local.UnixMilli())
	c.clock.measuredAt.Store(time.Now().UnixNano())
	return nil
}

// failGuarded maps the error of a guarded script: a LATE error reply is
// errLate (and, when the local clock says the deadline had not passed, the
// offset is stale: it is measured again); anything else goes through fail.
func (c *RedisConn) failGuarded(ctx context.Context, err error) error {
	if err == nil || !strings.HasPrefix(err.Error(), lateReply) {
		return c.fail(err)
	}
	if d, ok := ctx.Deadline(); ok && time.Now().Before(d) {
		c.clock.measuredAt.Store(0)
	}
	return unavailable(errLate)
}

// guardLua is the prologue of every guarded script: ARGV[1] is the
// deadline in Redis's clock, in milliseconds. The LATE error reply can't be
// mistaken for a value.
const guardLua = `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then
  return redis.error_reply('` + lateReply + ` deadline passed')
end
`

// Now is Redis's clock as this connection knows it: the local clock plus
// the measured offset. Instances sharing Redis that decide expiries by it
// agree with each other and with Redis's own TTLs, whatever their local
// clocks say.
func (c *RedisConn) Now() time.Time {
	c.clock.maybeRemeasure(c)
	return c.local().Add(time.Duration(c.clock.offsetMillis.Load()) * time.Millisecond)
}

// Now is the clock of the Redis deployment (RedisConn.Now).
func (r *Redis) Now() time.Time { return r.conn.Now() }
