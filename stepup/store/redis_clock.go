package store

import (
	"context"
	"sync"
	"time"
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
// what the guarded scripts' clock is believed to be.
type redisClock struct {
	mu        sync.RWMutex
	offset    time.Duration // in use by Now; within ±bound
	accepted  bool          // an offset was adopted at least once
	measured  time.Time     // when the last measurement ended (local clock); zero = never
	measuring bool
	// script is the offset of the clock the guarded scripts read (TIME
	// inside Lua), which decides their deadlines (redis_deadline.go). It
	// starts at the first measurement, whatever the bound, and is corrected
	// from the scripts' own answers.
	script    time.Duration
	scriptSet bool
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
	c.clock.mu.RLock()
	off := c.clock.offset
	c.clock.mu.RUnlock()
	return c.local().Add(off)
}

// Now is the clock of the Redis deployment (RedisConn.Now).
func (r *Redis) Now() time.Time { return r.conn.Now() }

// ClockOffset returns the offset in use and whether one was ever accepted.
func (c *RedisConn) ClockOffset() (time.Duration, bool) {
	c.clock.mu.RLock()
	defer c.clock.mu.RUnlock()
	return c.clock.offset, c.clock.accepted
}

// maybeRemeasure measures the offset in the background when it is older
// than clockRecheck; one measurement at a time.
func (c *RedisConn) maybeRemeasure() {
	k := &c.clock
	k.mu.Lock()
	if k.measuring || (!k.measured.IsZero() && time.Since(k.measured) < clockRecheck) {
		k.mu.Unlock()
		return
	}
	k.measuring = true
	k.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), clockSamples*c.timeout)
		defer cancel()
		_ = c.measureClock(ctx)
		k.mu.Lock()
		k.measuring = false
		k.mu.Unlock()
	}()
}

// measureClock takes clockSamples TIME round trips, one after the other,
// and judges the best of them.
func (c *RedisConn) measureClock(ctx context.Context) error {
	samples := make([]clockSample, 0, clockSamples)
	for range clockSamples {
		sent := c.local()
		t, err := c.client.Time(ctx).Result()
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

// judge adopts what the samples say within the rules above, and returns
// the fault when it did not adopt it as it was.
func (k *redisClock) judge(samples []clockSample, bound time.Duration) *ClockFault {
	best := samples[0]
	for _, s := range samples[1:] {
		if s.rtt < best.rtt {
			best = s
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	first := k.measured.IsZero()
	k.measured = time.Now()
	if !k.scriptSet {
		k.script, k.scriptSet = best.offset, true
	}
	reason := ""
	switch {
	case !consistent(samples, best):
		reason = ClockInconsistent
	case best.offset > bound || best.offset < -bound:
		reason = ClockOutOfBound
	case !first && absDuration(best.offset-k.offset) > bound/4:
		reason = ClockJump
		step := bound / 4
		if best.offset < k.offset {
			step = -step
		}
		k.offset += step
	default:
		k.offset, k.accepted = best.offset, true
	}
	if reason == "" {
		return nil
	}
	return &ClockFault{Reason: reason, Measured: best.offset, InUse: k.offset, Bound: bound}
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
