package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Late execution. When Redis stalls (a full fsync, a paused or swapped
// process, a saturated network), a command the gateway gave up on after
// its deadline still sits in the socket and runs when Redis resumes. For a
// command that consumes something (a grant, a login flow, a code attempt,
// a refresh-token rotation) that is a loss the user never saw succeed: the
// request was answered 503, yet the state is spent. So every consuming
// command is a script that first compares Redis's clock (TIME, read inside
// the script) with the deadline the gateway set, translated into that
// clock, and does nothing when it runs too late.
//
// The translation uses the offset of the scripts' clock (redisClock.script),
// which is not bounded like the offset of Now: it only decides whether a
// script may run, never an expiry. It can be wrong (Redis's clock stepped,
// the instance's did, or TIME answered otherwise than the scripts' clock
// does), so the script also refuses a deadline that lies too far in its
// future (more than the operation's whole time plus scriptSlack after the
// moment the command was sent: the deadline would be too lenient). Either
// refusal comes back with the time the script read, and does nothing. When
// the instance's own monotonic clock says the deadline has not passed, the
// refusal was the translation's fault, not lateness: the offset is
// corrected from the script's time and the command sent once more.

// lateReply and clockReply start the error replies of a guarded script
// that did nothing: it ran past its deadline, or its clock disagrees with
// the deadline's translation. The time the script read follows.
const (
	lateReply  = "LATE"
	clockReply = "CLOCK"
)

// scriptSlack is how far before the moment a command is sent its script's
// clock may read, in the translation, before the script refuses it.
const scriptSlack = 100 * time.Millisecond

// errLate wraps ErrUnavailable: the command arrived after its deadline and
// did nothing.
var errLate = errors.New("store: command reached redis after its deadline and did nothing")

// errScriptClock wraps ErrUnavailable: twice, the script's clock disagreed
// with the deadline's translation; the command did nothing.
var errScriptClock = errors.New("store: redis's clock disagreed with the command's deadline twice; the command did nothing")

// guardArgs returns the first two arguments of a guarded script: the
// earliest time at which it may run and its deadline, in milliseconds of
// the scripts' clock, for an operation whose context ends at the
// context's deadline.
func (c *RedisConn) guardArgs(ctx context.Context) (notBefore, deadline int64) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(c.timeout)
	}
	off := time.Duration(c.clock.script.Load())
	// The deadline is on the monotonic clock; the time left, added to the
	// scripts' clock as this connection knows it.
	sent := c.local().Add(off)
	return sent.Add(-scriptSlack).UnixMilli(), sent.Add(time.Until(d)).UnixMilli()
}

// scriptRefusal parses the reply of a guarded script that did nothing:
// which refusal, and the time the script read (Unix ms).
func scriptRefusal(err error) (kind string, at int64, ok bool) {
	if err == nil {
		return "", 0, false
	}
	kind, rest, found := strings.Cut(err.Error(), " ")
	if !found || (kind != lateReply && kind != clockReply) {
		return "", 0, false
	}
	at, perr := strconv.ParseInt(rest, 10, 64)
	if perr != nil {
		return "", 0, false
	}
	return kind, at, true
}

// correctScriptClock learns the scripts' clock from a refusal that the
// instance's own clock contradicts, and says whether the command should be
// sent again: only when its deadline has not passed on the monotonic clock
// (then the script's verdict was the translation's fault). sent and
// received bound the round trip that carried the refusal.
func (c *RedisConn) correctScriptClock(ctx context.Context, at int64, sent, received time.Time) bool {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return false
	}
	mid := sent.Add(received.Sub(sent) / 2)
	c.clock.script.Store(int64(time.UnixMilli(at).Sub(mid)))
	c.clock.scriptSet.Store(true)
	return true
}

// failGuarded maps the error of a guarded script: a refusal that stands
// (the deadline really passed, or the clocks disagreed twice) is
// unavailable; anything else goes through fail.
func (c *RedisConn) failGuarded(err error) error {
	kind, _, ok := scriptRefusal(err)
	switch {
	case !ok:
		return c.fail(err)
	case kind == clockReply:
		return unavailable(errScriptClock)
	default:
		return unavailable(errLate)
	}
}

// guardLua is the prologue of every guarded script: ARGV[1] is the
// earliest time it may run and ARGV[2] its deadline, in milliseconds of
// Redis's clock; its own arguments start at ARGV[3]. The error replies
// can't be mistaken for a value.
const guardLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[2]) then
  return redis.error_reply('` + lateReply + ` ' .. string.format('%.0f', now))
end
if now < tonumber(ARGV[1]) then
  return redis.error_reply('` + clockReply + ` ' .. string.format('%.0f', now))
end
`
