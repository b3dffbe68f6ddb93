package store

import (
	"context"
	"errors"
	"time"
)

// Spending rate-limited counters. One operation (a code sent, a login
// started) is counted in several fixed-window counters (the client's, the
// destination's, everyone's) and refused by the first one past its limit,
// or by an account lock. A Batcher decides all of them in one round trip.

// Counter is a fixed-window counter: an event counts in Key, which expires
// Window after its first event, and is refused past Limit.
type Counter struct {
	Key    string
	Limit  int64
	Window time.Duration
}

// Lock is an account lock a spend checks: it refuses when the counter at
// Key holds At or more. A zero Lock (no Key) checks nothing.
type Lock struct {
	Key string
	At  int64
}

// Spent is what a spend decided: Refused is the index of the counter that
// refused (-1: none), Locked that the lock did. A refused spend counts in
// the counter that refused it only (which is past its limit for the rest
// of its window anyway): every other counter it counted in is given back.
type Spent struct {
	Refused int
	Locked  bool
}

// OK says that nothing refused.
func (s Spent) OK() bool { return s.Refused < 0 && !s.Locked }

// Spend spends counters on s (Do with a SpendOp): in one round trip when
// s is a Batcher, else counter by counter (a refusal by the first counter
// then costs one call). The counters counted are given back, best effort,
// when the store fails (the error is then ErrUnavailable).
func Spend(ctx context.Context, s Store, lock Lock, counters []Counter) (Spent, error) {
	op := SpendOp(lock, counters)
	Do(ctx, s, op)
	return op.Spent, op.Err
}

func spendOneByOne(ctx context.Context, s Store, lock Lock, counters []Counter) (Spent, error) {
	if err := checkWindows(counters); err != nil {
		return Spent{Refused: -1}, err
	}
	for i, c := range counters {
		n, err := s.Incr(ctx, c.Key, c.Window)
		if err != nil {
			giveBack(ctx, s, counters[:i])
			return Spent{Refused: -1}, err
		}
		if n > c.Limit {
			giveBack(ctx, s, counters[:i])
			return Spent{Refused: i}, nil
		}
		if i == 0 && lock.Key != "" {
			locked, err := lockHolds(ctx, s, lock)
			if err != nil || locked {
				giveBack(ctx, s, counters[:1])
				return Spent{Refused: -1, Locked: locked}, err
			}
		}
	}
	return Spent{Refused: -1}, nil
}

// checkWindows refuses a spend with a counter that would never expire.
func checkWindows(counters []Counter) error {
	for _, c := range counters {
		if err := checkTTL(c.Window); err != nil {
			return err
		}
	}
	return nil
}

// lockHolds reads the lock's counter; an absent one holds 0.
func lockHolds(ctx context.Context, s Store, lock Lock) (bool, error) {
	raw, err := s.Get(ctx, lock.Key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return parseCount(raw) >= lock.At, nil
}

// parseCount reads a counter's value; anything else counts as 0.
func parseCount(raw []byte) int64 {
	var n int64
	for _, c := range raw {
		if c < '0' || c > '9' || n > (1<<62)/10 {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// giveBack takes one back from each counter, best effort.
func giveBack(ctx context.Context, s Store, counters []Counter) {
	for _, c := range counters {
		_ = s.Decr(ctx, c.Key)
	}
}
