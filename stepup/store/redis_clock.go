package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis's clock. Instances that share Redis decide every expiry by one
// clock, Redis's, so that they agree with each other and with the TTLs of
// the keys they write. But Redis's TIME is what a neighbour asserts: a
// Redis whose clock is wrong (or anything that answers for it) must not
// move every expiry with one answer. So:
//
//   - each measurement takes clockSamples TIME round trips and keeps the
//     one with the shortest round trip (the least uncertain, as NTP does);
//     samples that contradict each other (no single offset fits them all
//     within their round trips) are refused;
//   - an offset larger than MaxClockOffset is refused: the instance's own
//     clock is the reference, Redis's is trusted only within that bound;
//   - after the first measurement, an offset further than a quarter of the
//     bound from the one in use is a jump: the offset in use moves a
//     quarter of the bound towards it, no more, per measurement;
//
// and each refusal is reported (ClockFault). Until an offset is accepted,
// the offset in use is zero (the instance's own clock). Now is therefore
// always within MaxClockOffset of the instance's clock.

// DefaultMaxClockOffset is the bound used when RedisOptions.MaxClockOffset
// is zero.
const DefaultMaxClockOffset = time.Second

// clockRecheck is how often the offset to Redis's clock is measured again.
const clockRecheck = 30 * time.Second

// clockSamples is how many TIME round trips one measurement takes.
const clockSamples = 5

// clockTolerance absorbs the resolution of TIME (microseconds) and of the
// local clock when samples are compared.
const clockTolerance = time.Millisecond

// Reasons of a ClockFault.
const (
	ClockOutOfBound   = "out_of_bound" // the offset is larger than MaxClockOffset
	ClockJump         = "jump"         // the offset moved more than a quarter of the bound at once
	ClockInconsistent = "inconsistent" // one measurement's samples contradict each other
)

// ClockFault reports a measurement of Redis's clock that was not adopted
// as it was.
type ClockFault struct {
	Reason   string        // ClockOutOfBound, ClockJump or ClockInconsistent
	Measured time.Duration // Redis's clock minus the instance's, as measured
	InUse    time.Duration // the offset the instance uses after this measurement
	Bound    time.Duration // MaxClockOffset
}

// redisClock holds the offset in use (Redis time minus local time) and
// what the guarded scripts' clock is believed to be. Reads are lock-free
// (Now runs on every request that decides an expiry); measurements are
// judged one at a time.
type redisClock struct {
	judging   sync.Mutex
	offset    atomic.Int64 // ns, in use by Now; within ±bound
	accepted  atomic.Bool  // an offset was adopted at least once
	measured  atomic.Int64 // unix ns when the last measurement was judged; 0 = never
	measuring atomic.Bool
	// script is the offset (ns) of the clock the guarded scripts read
	// (TIME inside Lua), which decides their deadlines
	// (redis_deadline.go). It starts at the first measurement, whatever
	// the bound, and is corrected from the scripts' own answers.
	script    atomic.Int64
	scriptSet atomic.Bool
}

// clockSample is one TIME round trip.
type clockSample struct {
	offset time.Duration // Redis's time minus the local midpoint of the round trip
	rtt    time.Duration
}

// Now is Redis's clock as this connection knows it: the local clock plus
// the offset in use, which never exceeds MaxClockOffset. Instances sharing
// Redis that decide expiries by it agree with each other and with Redis's
// own TTLs, within that bound.
func (c *RedisConn) Now() time.Time {
	c.maybeRemeasure()
	return c.local().Add(time.Duration(c.clock.offset.Load()))
}

// Now is the clock of the Redis deployment (RedisConn.Now).
func (r *Redis) Now() time.Time { return r.conn.Now() }

// ClockOffset returns the offset in use and whether one was ever accepted.
func (c *RedisConn) ClockOffset() (time.Duration, bool) {
	return time.Duration(c.clock.offset.Load()), c.clock.accepted.Load()
}

// maybeRemeasure measures the offset in the background when it is older
// than clockRecheck; one measurement at a time.
func (c *RedisConn) maybeRemeasure() {
	k := &c.clock
	last := k.measured.Load()
	if last != 0 && time.Since(time.Unix(0, last)) < clockRecheck {
		return
	}
	if !k.measuring.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer k.measuring.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), clockSamples*c.timeout)
		defer cancel()
		_ = c.measureClock(ctx)
	}()
}

// measureClock takes clockSamples TIME round trips, one after the other,
// and judges the best of them.
func (c *RedisConn) measureClock(ctx context.Context) error {
	node, err := c.clockNode(ctx)
	if err != nil {
		return c.fail(err)
	}
	samples := make([]clockSample, 0, clockSamples)
	for range clockSamples {
		sent := c.local()
		t, err := node.Time(ctx).Result()
		if err != nil {
			return c.fail(err)
		}
		received := c.local()
		rtt := received.Sub(sent)
		samples = append(samples, clockSample{offset: t.Sub(sent.Add(rtt / 2)), rtt: rtt})
	}
	if fault := c.clock.judge(samples, c.maxOffset); fault != nil && c.onFault != nil {
		c.onFault(*fault)
	}
	return nil
}

// clockNode is the node whose clock one measurement reads: on a Cluster,
// TIME would go to a random master each time, and masters' clocks differ
// by a little; the samples of one measurement must come from one clock.
func (c *RedisConn) clockNode(ctx context.Context) (redis.Cmdable, error) {
	if c.cluster == nil {
		return c.client, nil
	}
	return c.cluster.MasterForKey(ctx, "stepup-clock")
}

// judge adopts what the samples say within the rules above, and returns
// the fault when it did not adopt it as it was.
func (k *redisClock) judge(samples []clockSample, bound time.Duration) *ClockFault {
	best := samples[0]
	for _, s := range samples[1:] {
		if s.rtt < best.rtt {
			best = s
		}
	}
	k.judging.Lock()
	defer k.judging.Unlock()
	first := k.measured.Load() == 0
	k.measured.Store(time.Now().UnixNano())
	if k.scriptSet.CompareAndSwap(false, true) {
		k.script.Store(int64(best.offset))
	}
	inUse := time.Duration(k.offset.Load())
	reason := ""
	switch {
	case !consistent(samples, best):
		reason = ClockInconsistent
	case best.offset > bound || best.offset < -bound:
		reason = ClockOutOfBound
	case !first && absDuration(best.offset-inUse) > bound/4:
		reason = ClockJump
		step := bound / 4
		if best.offset < inUse {
			step = -step
		}
		inUse += step
		k.offset.Store(int64(inUse))
	default:
		inUse = best.offset
		k.offset.Store(int64(inUse))
		k.accepted.Store(true)
	}
	if reason == "" {
		return nil
	}
	return &ClockFault{Reason: reason, Measured: best.offset, InUse: inUse, Bound: bound}
}

// consistent reports whether one offset fits every sample: the true offset
// lies within half a round trip of each sample's, so any two samples
// differ by at most half the sum of their round trips.
func consistent(samples []clockSample, best clockSample) bool {
	for _, s := range samples {
		if absDuration(s.offset-best.offset) > (s.rtt+best.rtt)/2+clockTolerance {
			return false
		}
	}
	return true
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
