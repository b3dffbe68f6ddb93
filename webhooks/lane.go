package webhooks

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// delivery is one event on its way to one endpoint.
type delivery struct {
	event, eventID    string
	userID, sessionID string
	body              []byte // shared by the event's deliveries: read only
	attempts, status  int
}

// lane is one endpoint's queue and workers.
type lane struct {
	index  int
	ep     Endpoint
	o      *Options
	client *http.Client

	// queue holds deliveries ready for an attempt. pending counts every
	// delivery the lane holds (queued, in flight, waiting for a retry)
	// and never passes cap(queue): a send on queue never blocks.
	queue   chan *delivery
	pending atomic.Int64

	mu      sync.Mutex // guards stopped and timers
	stopped bool
	timers  map[*delivery]func() bool // retries waiting for their time

	stopping chan struct{} // closed by stop: workers drain, then end
	ctx      context.Context
	cancel   context.CancelFunc // cancels requests in flight
	workers  sync.WaitGroup

	lastDropLog atomic.Int64 // Unix second of the last "queue full" log line
}

func newLane(index int, ep Endpoint, o *Options, client *http.Client) *lane {
	ctx, cancel := context.WithCancel(context.Background())
	return &lane{index: index, ep: ep, o: o, client: client, queue: make(chan *delivery, o.QueueSize),
		timers: map[*delivery]func() bool{}, stopping: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// wants reports whether the endpoint asked for events of typ.
func (l *lane) wants(typ string) bool {
	return len(l.ep.Events) == 0 || slices.Contains(l.ep.Events, typ)
}

// report is what a delivery tells now. It is taken while the delivery is
// the caller's alone (before a worker or a timer may touch it), and
// handed to Options.Report outside the lane's lock: the audit log writes.
func (l *lane) report(d *delivery, outcome string) Report {
	return Report{Type: d.event, Outcome: outcome, EventID: d.eventID, UserID: d.userID, SessionID: d.sessionID,
		Endpoint: l.index, Attempts: d.attempts, Status: d.status}
}

// finish lets go of a delivery at its last outcome.
func (l *lane) finish(d *delivery, outcome string) Report {
	l.pending.Add(-1)
	return l.report(d, outcome)
}

// offer queues a new delivery, or drops it when the lane is full (with a
// log line at most once a second), or discards it once stopped. It never
// blocks.
func (l *lane) offer(d *delivery) {
	l.mu.Lock()
	var rep Report
	switch {
	case l.stopped:
		rep = l.report(d, OutcomeDiscarded)
	case l.pending.Add(1) > int64(cap(l.queue)):
		l.pending.Add(-1)
		rep = l.report(d, OutcomeDropped)
	default:
		rep = l.report(d, OutcomeQueued)
		l.queue <- d
	}
	l.mu.Unlock()
	l.o.Report(rep)
	if rep.Outcome == OutcomeDropped {
		if now := time.Now().Unix(); l.lastDropLog.Swap(now) != now {
			l.o.Logger.Warn("webhook queue full: event dropped", zap.Int("endpoint", l.index),
				zap.String("event", d.event), zap.String("event_id", d.eventID), zap.Int("queue_size", cap(l.queue)))
		}
	}
}

func (l *lane) start() {
	for range l.o.Workers {
		l.workers.Add(1)
		go l.work()
	}
}

// work attempts queued deliveries; once the lane stops, it empties the
// queue and ends.
func (l *lane) work() {
	defer l.workers.Done()
	for {
		select {
		case d := <-l.queue:
			l.attempt(d)
		case <-l.stopping:
			for {
				select {
				case d := <-l.queue:
					l.attempt(d)
				default:
					return
				}
			}
		}
	}
}

// attempt makes one attempt and decides what follows: done, a retry after
// a backoff, or giving up. Once the lane stops, a failure is not retried.
func (l *lane) attempt(d *delivery) {
	d.attempts++
	status, err := l.send(d)
	d.status = status
	if err == nil {
		l.o.Report(l.finish(d, OutcomeDelivered))
		return
	}
	l.o.Logger.Debug("webhook attempt failed", zap.Int("endpoint", l.index), zap.String("event", d.event),
		zap.String("event_id", d.eventID), zap.Int("attempt", d.attempts), zap.Int("status", status), zap.Error(err))
	l.mu.Lock()
	var rep Report
	switch {
	case l.stopped:
		rep = l.finish(d, OutcomeDiscarded)
	case d.attempts >= l.o.MaxAttempts:
		rep = l.finish(d, OutcomeFailed)
	default:
		rep = l.report(d, OutcomeRetried)
		wait := l.o.Jitter(backoff(d.attempts, l.o.Backoff, l.o.MaxBackoff))
		l.timers[d] = l.o.Clock.AfterFunc(wait, func() { l.retry(d) })
	}
	l.mu.Unlock()
	if rep.Outcome == OutcomeFailed {
		l.o.Logger.Warn("webhook delivery failed: giving up", zap.Int("endpoint", l.index), zap.String("event", rep.Type),
			zap.String("event_id", rep.EventID), zap.Int("attempts", rep.Attempts), zap.Int("status", rep.Status))
	}
	l.o.Report(rep)
}

// retry puts a delivery whose wait is over back in the queue (its place
// was kept: the send never blocks), unless the lane stopped meanwhile.
func (l *lane) retry(d *delivery) {
	l.mu.Lock()
	if _, waiting := l.timers[d]; !waiting {
		l.mu.Unlock()
		return // stop discarded it
	}
	delete(l.timers, d)
	l.queue <- d // never blocks: its place was kept; stop has not run (it empties timers)
	l.mu.Unlock()
}

// stop discards the retries waiting for their time, lets the workers try
// what is queued until the drain timeout, then cancels what is in flight,
// and waits for the workers to end.
func (l *lane) stop() {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	var discarded []Report
	for d, stopTimer := range l.timers {
		stopTimer() // a timer that fired finds its delivery gone
		delete(l.timers, d)
		discarded = append(discarded, l.finish(d, OutcomeDiscarded))
	}
	l.mu.Unlock()
	for _, rep := range discarded {
		l.o.Report(rep)
	}
	close(l.stopping)
	done := make(chan struct{})
	go func() {
		l.workers.Wait()
		close(done)
	}()
	drain := time.NewTimer(l.o.DrainTimeout)
	defer drain.Stop()
	select {
	case <-done:
	case <-drain.C:
		l.cancel() // requests in flight fail at once; nothing is retried
		<-done
	}
	l.cancel()
	// Workers that never started (Start was not called) leave the queue
	// as it was.
	for {
		select {
		case d := <-l.queue:
			l.o.Report(l.finish(d, OutcomeDiscarded))
		default:
			return
		}
	}
}
