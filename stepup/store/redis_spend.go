package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

var _ Spender = (*Redis)(nil)

// spendScript spends counters in one step (Spender's rules): KEYS are the
// lock's counter when ARGV[3] is 1, then the counters; ARGV[4] is the
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

// Spend decides every counter and the lock in one round trip: one script
// on a deployment that is no Cluster (atomic, a refusal included); on a
// Cluster, whose counters lie in several slots, one pipeline that counts
// in every counter and reads the lock, then, only when something
// refused, a second one that gives back what the rules say.
func (r *Redis) Spend(ctx context.Context, lock Lock, counters []Counter) (Spent, error) {
	for _, c := range counters {
		if err := checkTTL(c.Window); err != nil {
			return Spent{Refused: -1}, err
		}
	}
	if len(counters) == 0 {
		return Spent{Refused: -1}, nil
	}
	if r.conn.cluster != nil {
		return r.spendPipelined(ctx, lock, counters)
	}
	keys := make([]string, 0, len(counters)+1)
	args := make([]any, 0, 2+2*len(counters))
	hasLock := "0"
	if lock.Key != "" {
		hasLock = "1"
		keys = append(keys, r.key(lock.Key))
	}
	args = append(args, hasLock, lock.At)
	for _, c := range counters {
		keys = append(keys, r.key(c.Key))
		args = append(args, c.Limit, millis(c.Window))
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	res, err := r.runGuardedKeys(ctx, spendScript, keys, args...).Int64Slice()
	if err != nil {
		return Spent{Refused: -1}, r.conn.failGuarded(err)
	}
	switch {
	case len(res) == 2 && res[0] == 1:
		return Spent{Refused: int(res[1])}, nil
	case len(res) == 1 && res[0] == 2:
		return Spent{Refused: -1, Locked: true}, nil
	case len(res) == 1 && res[0] == 0:
		return Spent{Refused: -1}, nil
	}
	return Spent{Refused: -1}, r.conn.fail(errors.New("spend: unexpected reply"))
}

// spendPipelined is Spend on a Cluster: every counter and the lock in one
// batch, then the give-backs of a refusal in another.
func (r *Redis) spendPipelined(ctx context.Context, lock Lock, counters []Counter) (Spent, error) {
	ops := make([]*Op, len(counters), len(counters)+1)
	for i, c := range counters {
		ops[i] = IncrOp(c.Key, c.Window)
	}
	var lockOp *Op
	if lock.Key != "" {
		lockOp = GetOp(lock.Key)
		ops = append(ops, lockOp)
	}
	r.Batch(ctx, ops)
	out := Spent{Refused: -1}
	var failed error
	for i, c := range counters {
		if err := ops[i].Err; err != nil {
			failed = err
		} else if ops[i].N > c.Limit && out.Refused < 0 && failed == nil {
			out.Refused = i
		}
	}
	if failed == nil && lockOp != nil && (out.Refused < 0 || out.Refused > 0) {
		switch {
		case errors.Is(lockOp.Err, ErrNotFound):
		case lockOp.Err != nil:
			failed = lockOp.Err
		case parseCount(lockOp.Result) >= lock.At:
			out = Spent{Refused: -1, Locked: true}
		}
	}
	if failed == nil && out.OK() {
		return out, nil
	}
	// Give back every counter counted in but the one that refused.
	var back []*Op
	for i := range counters {
		if ops[i].Err == nil && (failed != nil || i != out.Refused) {
			back = append(back, DecrOp(counters[i].Key))
		}
	}
	if len(back) > 0 {
		r.Batch(ctx, back)
	}
	if failed != nil {
		return Spent{Refused: -1}, failed
	}
	return out, nil
}
