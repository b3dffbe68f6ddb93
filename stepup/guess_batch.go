package stepup

import (
	"context"
	"errors"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// The guessing counters of a code check, read and written in batches: the
// reads go with the request's first batch, and a wrong code's failures are
// counted in one.

// reads are the GETs that tell whether the account is locked and whether
// the client must wait: the account's counter, the client's and its wait.
func (g *guessCounters) reads() []*store.Op {
	return []*store.Op{store.GetOp(g.account), store.GetOp(g.client), store.GetOp(failWaitKey(g.client))}
}

// judgeGuessing is checkGuessing over what reads returned.
func (e *Engine) judgeGuessing(g *guessCounters, reads []*store.Op) error {
	counts := make([]int, 2)
	for i, op := range reads[:2] {
		switch {
		case errors.Is(op.Err, store.ErrNotFound):
		case op.Err != nil:
			return storeErr(op.Err)
		default:
			counts[i] = atoi(string(op.Result))
		}
	}
	g.accountSeen, g.clientSeen = counts[0], counts[1]
	if g.accountSeen >= e.cfg.OTP.MaxUserFailures {
		return ErrRateLimited
	}
	if g.clientSeen < freeFailures {
		return nil
	}
	switch wait := reads[2]; {
	case wait.Err == nil:
		return ErrRateLimited
	case errors.Is(wait.Err, store.ErrNotFound):
		return nil
	default:
		return storeErr(wait.Err)
	}
}

// countFailure counts a wrong code as a failure of the account and of the
// client (one batch), and makes the client wait past its free failures.
func (e *Engine) countFailure(ctx context.Context, g *guessCounters) error {
	account, client := store.IncrOp(g.account, failureMemory), store.IncrOp(g.client, failureMemory)
	store.Do(ctx, e.cfg.Store, account, client)
	for _, op := range []*store.Op{account, client} {
		if op.Err != nil {
			return storeErr(op.Err)
		}
	}
	if delay := failureDelay(client.N); delay > 0 {
		if err := e.cfg.Store.Set(ctx, failWaitKey(g.client), []byte("1"), delay); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// clearGuessingBatch is clearGuessing in one batch.
func (e *Engine) clearGuessingBatch(ctx context.Context, g *guessCounters) {
	if ops := g.clears(); len(ops) > 0 {
		store.Do(ctx, e.cfg.Store, ops...)
	}
}
