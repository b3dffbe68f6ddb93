package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// attemptScript counts an attempt and, within the limit, swaps a record
// (AttemptOp): KEYS are the counter and the record (one slot); ARGV after
// the guard's are the counter's window (ms), the limit, 1 to swap, the
// old and new values and the record's TTL (ms). The answer is {count,
// outcome}: outcome 0 the record is absent, 1 it holds another value, 2
// swapped, 3 nothing to swap (past the limit, or only counting).
var attemptScript = redis.NewScript(guardLua + `
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if n > tonumber(ARGV[4]) or ARGV[5] ~= '1' then return {n, 3} end
local v = redis.call('GET', KEYS[2])
if v == false then return {n, 0} end
if v ~= ARGV[6] then return {n, 1} end
redis.call('SET', KEYS[2], ARGV[7], 'PX', ARGV[8])
return {n, 2}`)

// checkAttempt refuses an attempt whose counter or record would never
// expire.
func checkAttempt(op *Op) error {
	if err := checkTTL(op.TTL); err != nil {
		return err
	}
	if op.Value != nil {
		return checkTTL(op.RecordTTL)
	}
	return nil
}

// attemptKeys returns the script's keys and arguments after the guard's.
func (r *Redis) attemptKeys(op *Op) ([]string, []any) {
	swap := "0"
	if op.Value != nil {
		swap = "1"
	}
	return []string{r.key(op.Key), r.key(op.Record)},
		[]any{millis(op.TTL), op.Max, swap, op.Old, op.Value, millis(max(op.RecordTTL, 1))}
}

// attemptOne runs an attempt alone.
func (r *Redis) attemptOne(ctx context.Context, op *Op) {
	if op.Err = checkAttempt(op); op.Err != nil {
		return
	}
	keys, args := r.attemptKeys(op)
	ctx, cancel := r.op(ctx)
	defer cancel()
	r.attemptAnswer(op, r.runGuardedKeys(ctx, attemptScript, keys, args...))
}

// attemptAnswer reads the attempt script's answer.
func (r *Redis) attemptAnswer(op *Op, cmd *redis.Cmd) {
	res, err := cmd.Int64Slice()
	if err != nil {
		op.Err = r.conn.failGuarded(err)
		return
	}
	if len(res) != 2 {
		op.Err = r.conn.fail(errors.New("attempt: unexpected reply"))
		return
	}
	op.N = res[0]
	switch res[1] {
	case 0:
		op.Err = ErrNotFound
	case 1:
		op.Err = ErrConflict
	}
}
