package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// spendScript spends counters in one step (the rules of Spend): KEYS are
// the lock's counter when ARGV[3] is 1, then the counters; ARGV[4] is the
// lock's threshold, then each counter's limit and window (ms). The answer
// is {0} (spent), {1, i} (counter i, from 0, refused) or {2} (locked).
// Its keys lie in several Cluster slots: it runs on deployments that are
// no Cluster.
var spendScript = redis.NewScript(guardLua + `
local first = 1
if ARGV[3] == '1' then first = 2 end
local function giveBack(n)
  for j = 0, n - 1 do
    local k = KEYS[first + j]
    local v = redis.call('GET', k)
    if v and tonumber(v) > 0 then redis.call('DECR', k) end
  end
end
for i = 0, #KEYS - first do
  local k = KEYS[first + i]
  local n = redis.call('INCR', k)
  if redis.call('PTTL', k) == -1 then
    redis.call('PEXPIRE', k, ARGV[6 + 2 * i])
  end
  if n > tonumber(ARGV[5 + 2 * i]) then
    giveBack(i)
    return {1, i}
  end
  if i == 0 and first == 2 then
    local l = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
    if l >= tonumber(ARGV[4]) then
      giveBack(1)
      return {2}
    end
  end
end
return {0}`)

// A spend on Redis takes one round trip: one script on a deployment that
// is no Cluster (atomic, a refusal included); on a Cluster, whose
// counters lie in several slots, one pipeline that counts in every counter
// and reads the lock, then, only when something refused, a second one
// that gives back what the rules say.

// spendKeys returns the script's keys and arguments after the guard's.
func (r *Redis) spendKeys(op *Op) (keys []string, args []any) {
	keys = make([]string, 0, len(op.Counters)+1)
	args = make([]any, 0, 2+2*len(op.Counters))
	hasLock := "0"
	if op.Lock.Key != "" {
		hasLock = "1"
		keys = append(keys, r.key(op.Lock.Key))
	}
	args = append(args, hasLock, op.Lock.At)
	for _, c := range op.Counters {
		keys = append(keys, r.key(c.Key))
		args = append(args, c.Limit, millis(c.Window))
	}
	return keys, args
}

// spendOne runs a spend alone on a deployment that is no Cluster.
func (r *Redis) spendOne(ctx context.Context, op *Op) {
	op.Spent = Spent{Refused: -1}
	if op.Err = checkWindows(op.Counters); op.Err != nil || len(op.Counters) == 0 {
		return
	}
	keys, args := r.spendKeys(op)
	ctx, cancel := r.op(ctx)
	defer cancel()
	r.spendAnswer(op, r.runGuardedKeys(ctx, spendScript, keys, args...))
}

// spendAnswer reads the spend script's answer.
func (r *Redis) spendAnswer(op *Op, cmd *redis.Cmd) {
	res, err := cmd.Int64Slice()
	if err != nil {
		op.Err = r.conn.failGuarded(err)
		return
	}
	switch {
	case len(res) == 2 && res[0] == 1:
		op.Spent = Spent{Refused: int(res[1])}
	case len(res) == 1 && res[0] == 2:
		op.Spent = Spent{Refused: -1, Locked: true}
	case len(res) == 1 && res[0] == 0:
	default:
		op.Err = r.conn.fail(errors.New("spend: unexpected reply"))
	}
}

// clusterSpend is a spend on a Cluster, as ops of a batch: an Incr per
// counter and a Get of the lock.
type clusterSpend struct {
	op   *Op
	incr []*Op
	lock *Op
}

func expandSpend(op *Op) *clusterSpend {
	cs := &clusterSpend{op: op, incr: make([]*Op, len(op.Counters))}
	for i, c := range op.Counters {
		cs.incr[i] = IncrOp(c.Key, c.Window)
	}
	if op.Lock.Key != "" {
		cs.lock = GetOp(op.Lock.Key)
	}
	return cs
}

func (cs *clusterSpend) ops() []*Op {
	if cs.lock == nil {
		return cs.incr
	}
	return append(append([]*Op{}, cs.incr...), cs.lock)
}

// decide applies the rules to what the batch answered and returns the
// give-backs they call for: every counter counted in but the one that
// refused (all of them when the lock refused or the store failed).
func (cs *clusterSpend) decide() (giveBacks []*Op) {
	op := cs.op
	op.Spent = Spent{Refused: -1}
	var failed error
	for i, c := range op.Counters {
		if err := cs.incr[i].Err; err != nil {
			failed = err
		} else if cs.incr[i].N > c.Limit && op.Spent.Refused < 0 {
			op.Spent.Refused = i
		}
	}
	// The lock is read after the first counter: a refusal by the first
	// counter comes before it, and it comes before the others'.
	if failed == nil && cs.lock != nil && op.Spent.Refused != 0 {
		switch {
		case errors.Is(cs.lock.Err, ErrNotFound):
		case cs.lock.Err != nil:
			failed = cs.lock.Err
		case parseCount(cs.lock.Result) >= op.Lock.At:
			op.Spent = Spent{Refused: -1, Locked: true}
		}
	}
	if failed != nil {
		op.Spent, op.Err = Spent{Refused: -1}, failed
	}
	if failed == nil && op.Spent.OK() {
		return nil
	}
	for i := range op.Counters {
		if cs.incr[i].Err == nil && (failed != nil || i != op.Spent.Refused) {
			giveBacks = append(giveBacks, DecrOp(op.Counters[i].Key))
		}
	}
	return giveBacks
}
