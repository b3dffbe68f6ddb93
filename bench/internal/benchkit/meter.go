package benchkit

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Meter measures one phase of a benchmark: its wall time, the gateway's
// CPU time and, given a Redis client, what the Redis server processed.
type Meter struct {
	ctx    context.Context
	tr     *TimingTransport
	pid    int
	redis  *redis.Client
	before RedisCounters
	cpu0   time.Duration
	start  time.Time
}

// Measured is what a Meter measured over its phase.
type Measured struct {
	Wall time.Duration
	CPU  time.Duration // the gateway's; 0 without its pid
	// Redis is per operation; nil without a Redis client.
	Redis *PerOp
}

// StartMeter starts a phase: it snapshots the Redis server (if rc is not
// nil) and the gateway's CPU time (pid, 0: none), then has tr record the
// requests into rec.
func StartMeter(ctx context.Context, tr *TimingTransport, rec *Recorder, pid int, rc *redis.Client) (*Meter, error) {
	m := &Meter{ctx: ctx, tr: tr, pid: pid, redis: rc}
	if rc != nil {
		var err error
		if m.before, err = Snapshot(ctx, rc); err != nil {
			return nil, err
		}
	}
	m.cpu0 = CPUTime(pid)
	tr.SetPhase(rec)
	m.start = time.Now()
	return m, nil
}

// Start is when the phase started, the origin of a schedule within it.
func (m *Meter) Start() time.Time { return m.start }

// Stop ends the phase and stops the recording; the Redis figures are
// divided by n operations.
func (m *Meter) Stop(n int) (Measured, error) {
	out := Measured{Wall: time.Since(m.start)}
	out.CPU = CPUTime(m.pid) - m.cpu0
	m.tr.SetPhase(nil)
	if m.redis != nil {
		after, err := Snapshot(m.ctx, m.redis)
		if err != nil {
			return Measured{}, err
		}
		d := Delta(m.before, after, n)
		out.Redis = &d
	}
	return out, nil
}
