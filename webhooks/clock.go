package webhooks

import (
	"math/rand/v2"
	"time"
)

// Clock schedules retries. Tests inject one they move by hand.
type Clock interface {
	// AfterFunc calls f in its own goroutine after d; stop cancels the
	// call and reports whether it did (false: f has run or is running).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is the time package's.
type realClock struct{}

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// backoff is the wait before attempt n+1 after n failed attempts (n ≥ 1):
// initial·2^(n−1), at most max.
func backoff(n int, initial, max time.Duration) time.Duration {
	d := initial
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// equalJitter waits between half of d and d, at random, so that the
// retries of many deliveries that failed together spread out, and none
// comes back at once.
func equalJitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}
