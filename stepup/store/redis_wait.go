package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Durability across failover. Redis replicates asynchronously: a master
// that acknowledged a write and died before shipping it leaves a replica,
// soon the new master, that never saw it, so a grant spent in the last
// moment before a failover can be spent again. With wait_replicas, every
// consuming write is followed on the same connection by WAIT, and counts
// as done only when enough replicas hold it. WAIT makes the write survive
// the failover of a master whose acknowledged replica is promoted; it is
// not a consensus protocol (Redis's documentation says as much): a replica
// that acknowledged and is then not the one promoted, or a master and
// replica lost together, can still lose it.

// errNotReplicated wraps ErrUnavailable: the write happened on the master
// but too few replicas acknowledged it in time.
var errNotReplicated = errors.New("store: too few replicas acknowledged the write in time")

// runGuarded runs a guarded script on key, waiting for replicas when the
// connection asks for it. args follow the guard's two (ARGV[1], ARGV[2]).
// A refusal that the instance's own clock contradicts (redis_deadline.go)
// corrects the scripts' clock and sends the command once more: the
// refused script did nothing.
func (r *Redis) runGuarded(ctx context.Context, script *redis.Script, key string, args ...any) *redis.Cmd {
	return r.runGuardedKeys(ctx, script, []string{r.key(key)}, args...)
}

// runGuardedKeys is runGuarded for a script of several keys (already
// prefixed), all in one Cluster slot unless the deployment is no Cluster.
func (r *Redis) runGuardedKeys(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	sent := r.conn.local()
	cmd := r.runGuardedOnce(ctx, script, keys, args)
	if _, at, ok := scriptRefusal(cmd.Err()); ok && r.conn.correctScriptClock(ctx, at, sent, r.conn.local()) {
		cmd = r.runGuardedOnce(ctx, script, keys, args)
	}
	return cmd
}

func (r *Redis) runGuardedOnce(ctx context.Context, script *redis.Script, keys []string, args []any) *redis.Cmd {
	notBefore, deadline := r.conn.guardArgs(ctx)
	args = append([]any{notBefore, deadline}, args...)
	if r.conn.waitReplicas == 0 {
		return script.Run(ctx, r.conn.client, keys, args...)
	}
	node := redis.Cmdable(r.conn.client)
	if r.conn.cluster != nil {
		// WAIT has no key: it must go to the master holding key's slot, on
		// the connection that wrote.
		master, err := r.conn.cluster.MasterForKey(ctx, keys[0])
		if err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(err)
			return cmd
		}
		node = master
	}
	cmd, err := r.writeAndWait(ctx, node, script.EvalSha, keys, args)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd, err = r.writeAndWait(ctx, node, script.Eval, keys, args)
	}
	if err != nil && cmd.Err() == nil {
		cmd.SetErr(err)
	}
	return cmd
}

// writeAndWait sends the script and WAIT in one pipeline (one connection).
func (r *Redis) writeAndWait(ctx context.Context, node redis.Cmdable,
	eval func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd, keys []string, args []any) (*redis.Cmd, error) {
	var cmd *redis.Cmd
	var acked *redis.Cmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmd = eval(ctx, p, keys, args...)
		acked = p.Do(ctx, "WAIT", r.conn.waitReplicas, r.conn.waitTimeout.Milliseconds())
		return nil
	})
	if cmd.Err() != nil {
		return cmd, cmd.Err() // the script's own answer (LATE, CLOCK, NOSCRIPT) or the transport's
	}
	if err != nil {
		return cmd, err
	}
	n, err := acked.Int64()
	if err != nil {
		return cmd, err
	}
	if n < int64(r.conn.waitReplicas) {
		return cmd, fmt.Errorf("%w: %d of %d", errNotReplicated, n, r.conn.waitReplicas)
	}
	return cmd, nil
}
