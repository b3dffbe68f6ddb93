package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

var _ Batcher = (*Redis)(nil)

var errUnknownOp = errors.New("store: unknown operation")

// Batch sends ops in one pipeline: the same commands and scripts as the
// methods (guarded scripts read Redis's clock themselves), then, with
// wait_replicas, one WAIT after them on the same connection. Scripts are
// sent by SHA, loaded beforehand on every master. An op that comes back
// NOSCRIPT (Redis restarted and forgot its scripts) or refused by a guard
// whose clock the instance's own contradicts did nothing, and is sent
// again through its method, which loads the script or corrects the clock:
// it then runs after the batch's other ops. On a Cluster with wait_replicas each op goes through its
// method: WAIT must follow each write on the connection of its own master.
func (r *Redis) Batch(ctx context.Context, ops []*Op) {
	cluster := r.conn.cluster != nil
	switch {
	case cluster && r.conn.waitReplicas > 0:
		for _, op := range ops {
			r.alone(ctx, op)
		}
		return
	case len(ops) == 1 && (ops[0].Kind != OpSpend || !cluster):
		r.alone(ctx, ops[0])
		return
	}
	// On a Cluster a spend is counters and a lock in several slots: its
	// ops join the batch, and its give-backs, if any, follow it.
	flat := make([]*Op, 0, len(ops))
	var spends []*clusterSpend
	for _, op := range ops {
		if op.Kind == OpSpend {
			op.Spent = Spent{Refused: -1}
			if op.Err = checkWindows(op.Counters); op.Err != nil || len(op.Counters) == 0 {
				continue
			}
			if cluster {
				cs := expandSpend(op)
				spends = append(spends, cs)
				flat = append(flat, cs.ops()...)
				continue
			}
		}
		flat = append(flat, op)
	}
	r.pipelined(ctx, flat)
	var giveBacks []*Op
	for _, cs := range spends {
		giveBacks = append(giveBacks, cs.decide()...)
	}
	if len(giveBacks) > 0 {
		r.pipelined(ctx, giveBacks)
	}
}

// alone runs one op by itself, through its method.
func (r *Redis) alone(ctx context.Context, op *Op) {
	switch {
	case op.Kind == OpAttempt:
		r.attemptOne(ctx, op)
	case op.Kind == OpSpend && r.conn.cluster != nil && r.conn.waitReplicas > 0:
		op.Spent, op.Err = spendOneByOne(ctx, r, op.Lock, op.Counters)
	case op.Kind == OpSpend && r.conn.cluster != nil:
		r.Batch(ctx, []*Op{op})
	case op.Kind == OpSpend:
		r.spendOne(ctx, op)
	default:
		runOne(ctx, r, op)
	}
}

// pipelined sends ops in one pipeline (the ops of a spend are one script,
// on a deployment that is no Cluster).
func (r *Redis) pipelined(ctx context.Context, ops []*Op) {
	queued := make([]*Op, 0, len(ops))
	for _, op := range ops {
		switch op.Kind {
		case OpSet, OpCreate, OpSwap, OpIncr, OpAddMember:
			if op.Err = checkTTL(op.TTL); op.Err != nil {
				continue
			}
		case OpAttempt:
			if op.Err = checkAttempt(op); op.Err != nil {
				continue
			}
		}
		queued = append(queued, op)
	}
	if len(queued) == 0 {
		return
	}
	opCtx, cancel := r.op(ctx)
	defer cancel()
	r.conn.loadScripts(opCtx)
	sent := r.conn.local()
	cmds, acked := r.pipeline(opCtx, queued)
	received := r.conn.local()
	consuming := 0
	for i, op := range queued {
		err := cmds[i].Err()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis forgot its scripts (a restart, a new Cluster master):
			// this op did nothing and runs now, after the others.
			r.conn.scriptsLoaded.Store(false)
			r.alone(ctx, op)
			continue
		}
		if _, at, ok := scriptRefusal(err); ok && r.conn.correctScriptClock(opCtx, at, sent, received) {
			r.alone(ctx, op)
			continue
		}
		r.finish(op, cmds[i])
		if guarded(op.Kind) && op.Err == nil {
			consuming++
		}
	}
	if acked == nil || consuming == 0 {
		return
	}
	n, err := acked.Int64()
	if err == nil && n < int64(r.conn.waitReplicas) {
		err = fmt.Errorf("%w: %d of %d", errNotReplicated, n, r.conn.waitReplicas)
	}
	if err != nil {
		for _, op := range queued {
			if guarded(op.Kind) && op.Err == nil {
				op.Err = r.conn.fail(err)
			}
		}
	}
}

// guarded says whether ops of kind consume or change state through a
// guarded script (redis_deadline.go), and so wait for replicas.
func guarded(kind OpKind) bool {
	switch kind {
	case OpCreate, OpSwap, OpTake, OpIncr, OpDecr, OpSpend, OpAttempt:
		return true
	}
	return false
}

// pipeline queues every op's command and sends them; acked is the WAIT
// that follows them when the connection waits for replicas.
func (r *Redis) pipeline(ctx context.Context, ops []*Op) (cmds []redis.Cmder, acked *redis.Cmd) {
	p := r.conn.client.Pipeline()
	notBefore, deadline := r.conn.guardArgs(ctx)
	cmds = make([]redis.Cmder, len(ops))
	consuming := false
	for i, op := range ops {
		keys := []string{r.key(op.Key)}
		switch op.Kind {
		case OpGet:
			cmds[i] = p.Get(ctx, keys[0])
		case OpSet:
			cmds[i] = p.Do(ctx, "SET", keys[0], op.Value, "PX", millis(op.TTL))
		case OpCreate:
			cmds[i] = createScript.EvalSha(ctx, p, keys, notBefore, deadline, op.Value, millis(op.TTL))
		case OpSwap:
			cmds[i] = swapScript.EvalSha(ctx, p, keys, notBefore, deadline, op.Old, op.Value, millis(op.TTL))
		case OpTake:
			cmds[i] = takeScript.EvalSha(ctx, p, keys, notBefore, deadline)
		case OpIncr:
			cmds[i] = incrScript.EvalSha(ctx, p, keys, notBefore, deadline, millis(op.TTL))
		case OpDecr:
			cmds[i] = decrScript.EvalSha(ctx, p, keys, notBefore, deadline)
		case OpDelete:
			cmds[i] = p.Del(ctx, keys[0])
		case OpAddMember:
			cmds[i] = addMemberScript.EvalSha(ctx, p, keys, op.Value, millis(op.TTL))
		case OpSpend:
			keys, args := r.spendKeys(op)
			cmds[i] = spendScript.EvalSha(ctx, p, keys, append([]any{notBefore, deadline}, args...)...)
		case OpAttempt:
			keys, args := r.attemptKeys(op)
			cmds[i] = attemptScript.EvalSha(ctx, p, keys, append([]any{notBefore, deadline}, args...)...)
		default:
			c := redis.NewCmd(ctx)
			c.SetErr(errUnknownOp)
			cmds[i] = c
		}
		consuming = consuming || guarded(op.Kind)
	}
	if consuming && r.conn.waitReplicas > 0 {
		acked = p.Do(ctx, "WAIT", r.conn.waitReplicas, r.conn.waitTimeout.Milliseconds())
	}
	_, _ = p.Exec(ctx) // each command carries its own answer or error
	return cmds, acked
}

// finish reads one op's answer as its method would.
func (r *Redis) finish(op *Op, cmd redis.Cmder) {
	err := cmd.Err()
	switch op.Kind {
	case OpGet:
		switch {
		case errors.Is(err, redis.Nil):
			op.Err = ErrNotFound
		case err != nil:
			op.Err = r.conn.fail(err)
		default:
			op.Result, op.Err = cmd.(*redis.StringCmd).Bytes()
		}
	case OpSet, OpDelete, OpAddMember:
		op.Err = r.conn.fail(err)
	case OpDecr:
		op.Err = r.conn.failGuarded(err)
	case OpCreate, OpSwap, OpIncr:
		n, err := cmd.(*redis.Cmd).Int64()
		if err != nil {
			op.Err = r.conn.failGuarded(err)
			return
		}
		op.Err = intAnswer(op, n)
	case OpSpend:
		r.spendAnswer(op, cmd.(*redis.Cmd))
	case OpAttempt:
		r.attemptAnswer(op, cmd.(*redis.Cmd))
	case OpTake:
		res, err := cmd.(*redis.Cmd).Slice()
		if err != nil {
			op.Err = r.conn.failGuarded(err)
			return
		}
		op.Result, op.Err = takeAnswer(res)
		if op.Err != nil && !errors.Is(op.Err, ErrNotFound) {
			op.Err = r.conn.fail(op.Err)
		}
	default:
		op.Err = unavailable(errUnknownOp)
	}
}

// intAnswer reads the integer answer of Create, Swap and Incr.
func intAnswer(op *Op, n int64) error {
	switch op.Kind {
	case OpCreate:
		if n == 0 {
			return ErrExists
		}
	case OpSwap:
		switch n {
		case 0:
			return ErrNotFound
		case 1:
			return ErrConflict
		}
	case OpIncr:
		op.N = n
	}
	return nil
}

// takeAnswer reads the take script's answer: {} when absent, {value}.
func takeAnswer(res []any) ([]byte, error) {
	if len(res) == 0 {
		return nil, ErrNotFound
	}
	v, ok := res[0].(string)
	if !ok {
		return nil, errors.New("take: unexpected reply")
	}
	return []byte(v), nil
}

// batchScripts are the scripts batches send by SHA.
var batchScripts = []*redis.Script{createScript, swapScript, takeScript, incrScript, decrScript, addMemberScript, spendScript, attemptScript}

// loadScripts loads batchScripts on every master, once, and again after
// a NOSCRIPT answer. A failure is left to the batch's commands to report.
func (c *RedisConn) loadScripts(ctx context.Context) {
	if c.scriptsLoaded.Load() {
		return
	}
	load := func(ctx context.Context, node redis.Scripter) error {
		for _, s := range batchScripts {
			if err := s.Load(ctx, node).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if c.cluster != nil {
		err = c.cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return load(ctx, node) })
	} else {
		err = load(ctx, c.client)
	}
	if err == nil {
		c.scriptsLoaded.Store(true)
	}
}
