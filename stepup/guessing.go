package stepup

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Guessing, bounded: the attempts of each code, the consecutive failures
// of an account (an identifier, a device, a user) and of a client. A code
// check reads and counts them in its batches (guess_batch.go, used by
// login_check.go and step_otp.go); a password check uses the account and
// client counters alone, one by one (login_password.go).

// refundAttempt gives back the attempt a right code counted when the
// request then failed on the store (503): only an operation that succeeded
// as a whole spends an attempt. Best effort: a store that failed may fail
// this too, and the attempt stays spent.
func (e *Engine) refundAttempt(ctx context.Context, triesKey string, err error) {
	if errors.Is(err, ErrUnavailable) {
		_ = e.cfg.Store.Decr(ctx, triesKey)
	}
}

// guessCounters are the consecutive-failure counters a code check counts
// in, and what they held before it.
type guessCounters struct {
	// account: the identifier's (for clients without a device of theirs),
	// a device's, or a user's (step-up codes): at MaxUserFailures it
	// refuses every check and send, for OTPFailureMemory (NIST SP 800-63B
	// §5.2.2: at most 100 consecutive failures per account).
	account string
	// client: the client IP's, across every identifier: past freeFailures
	// each check waits longer. Delays fall on the guessing client only.
	client                  string
	accountSeen, clientSeen int
}

// checkGuessing refuses a check when the account is locked or the client
// must still wait.
func (e *Engine) checkGuessing(ctx context.Context, g *guessCounters) error {
	var err error
	if g.accountSeen, err = e.checkLock(ctx, g.account); err != nil {
		return err
	}
	g.clientSeen, err = e.checkDelay(ctx, g.client)
	return err
}

// Consecutive failures: per client, the first freeFailures cost nothing
// beyond the per-code attempt limit, then each check waits twice as long
// (1 s, 2 s, 4 s, ... at most maxFailureDelay). Per account, at
// MaxUserFailures every check and send is refused until the counter, kept
// failureMemory after its first failure, expires. Only a success resets a
// counter, never a resend.
const (
	freeFailures    = 10
	maxFailureDelay = 15 * time.Minute
	failureMemory   = 24 * time.Hour
)

func failureDelay(n int64) time.Duration {
	if n < freeFailures {
		return 0
	}
	shift := n - freeFailures
	if shift > 10 {
		return maxFailureDelay
	}
	return min(time.Duration(1<<shift)*time.Second, maxFailureDelay)
}

func failWaitKey(failKey string) string { return failKey + ":wait" }

// clearGuessing forgets the failures of both counters after a success;
// a counter that held none costs no store call.
func (e *Engine) clearGuessing(ctx context.Context, g *guessCounters) error {
	if g.accountSeen > 0 {
		if err := e.cfg.Store.Delete(ctx, g.account); err != nil {
			return storeErr(err)
		}
	}
	if g.clientSeen > 0 {
		return storeErr(e.cfg.Store.Delete(ctx, g.client, failWaitKey(g.client)))
	}
	return nil
}

// checkLock refuses when an account counter reached MaxUserFailures, and
// returns what it holds.
func (e *Engine) checkLock(ctx context.Context, failKey string) (int, error) {
	n, err := e.counter(ctx, failKey)
	if err != nil {
		return 0, err
	}
	if n >= e.cfg.OTP.MaxUserFailures {
		return n, ErrRateLimited
	}
	return n, nil
}

// checkDelay refuses while a client counter's wait runs, and returns what
// the counter holds.
func (e *Engine) checkDelay(ctx context.Context, failKey string) (int, error) {
	n, err := e.counter(ctx, failKey)
	if err != nil || n < freeFailures {
		return n, err
	}
	_, err = e.cfg.Store.Get(ctx, failWaitKey(failKey))
	switch {
	case err == nil:
		return n, ErrRateLimited
	case errors.Is(err, store.ErrNotFound):
		return n, nil
	}
	return n, storeErr(err)
}

// counter reads a counter; an absent one holds 0.
func (e *Engine) counter(ctx context.Context, key string) (int, error) {
	raw, err := e.cfg.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, storeErr(err)
	}
	return atoi(string(raw)), nil
}
