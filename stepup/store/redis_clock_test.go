package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
)

func inUse(k *redisClock) time.Duration { return time.Duration(k.offset.Load()) }

func samplesAt(offsets []time.Duration, rtts []time.Duration) []clockSample {
	out := make([]clockSample, len(offsets))
	for i := range offsets {
		out[i] = clockSample{offset: offsets[i], rtt: rtts[i]}
	}
	return out
}

func TestRedisClockOffsetFromSamples(t *testing.T) {
	const bound = time.Second
	ms := time.Millisecond
	rtts := []time.Duration{4 * ms, 2 * ms, 6 * ms}

	t.Run("the sample with the shortest round trip is adopted", func(t *testing.T) {
		var k redisClock
		if f := k.judge(samplesAt([]time.Duration{301 * ms, 300 * ms, 302 * ms}, rtts), bound); f != nil {
			t.Fatalf("fault %+v", f)
		}
		if inUse(&k) != 300*ms || !k.accepted.Load() {
			t.Fatalf("offset %v accepted %v, want 300ms", inUse(&k), k.accepted.Load())
		}
	})
	for _, far := range []time.Duration{-2 * time.Hour, 365 * 24 * time.Hour, bound + ms, -bound - ms} {
		t.Run("an offset of "+far.String()+" is refused", func(t *testing.T) {
			var k redisClock
			f := k.judge(samplesAt([]time.Duration{far, far, far}, rtts), bound)
			if f == nil || f.Reason != ClockOutOfBound || f.Measured != far || f.InUse != 0 {
				t.Fatalf("fault %+v, want out_of_bound with nothing in use", f)
			}
			if inUse(&k) != 0 || k.accepted.Load() {
				t.Fatalf("offset %v adopted", inUse(&k))
			}
		})
	}
	t.Run("an offset at the bound is adopted", func(t *testing.T) {
		var k redisClock
		if f := k.judge(samplesAt([]time.Duration{bound, bound, bound}, rtts), bound); f != nil || inUse(&k) != bound {
			t.Fatalf("fault %+v, offset %v", f, inUse(&k))
		}
	})
	t.Run("samples that contradict each other are refused", func(t *testing.T) {
		var k redisClock
		f := k.judge(samplesAt([]time.Duration{0, 20 * ms, 0}, rtts), bound)
		if f == nil || f.Reason != ClockInconsistent || inUse(&k) != 0 {
			t.Fatalf("fault %+v, offset %v", f, inUse(&k))
		}
	})
	t.Run("samples that agree within their round trips are consistent", func(t *testing.T) {
		var k redisClock
		if f := k.judge(samplesAt([]time.Duration{3 * ms, 0, -3 * ms}, rtts), bound); f != nil {
			t.Fatalf("fault %+v", f)
		}
	})
	t.Run("a jump moves the offset a quarter of the bound per measurement", func(t *testing.T) {
		var k redisClock
		_ = k.judge(samplesAt([]time.Duration{0, 0, 0}, rtts), bound)
		want := []time.Duration{250 * ms, 500 * ms, 750 * ms}
		for i, w := range want {
			f := k.judge(samplesAt([]time.Duration{900 * ms, 900 * ms, 900 * ms}, rtts), bound)
			if f == nil || f.Reason != ClockJump || inUse(&k) != w {
				t.Fatalf("measurement %d: fault %+v, offset %v, want a jump and %v", i+2, f, inUse(&k), w)
			}
		}
		if f := k.judge(samplesAt([]time.Duration{900 * ms, 900 * ms, 900 * ms}, rtts), bound); f != nil || inUse(&k) != 900*ms {
			t.Fatalf("the last step: fault %+v, offset %v, want 900ms adopted", f, inUse(&k))
		}
		// Downwards alike.
		f := k.judge(samplesAt([]time.Duration{-900 * ms, -900 * ms, -900 * ms}, rtts), bound)
		if f == nil || f.Reason != ClockJump || inUse(&k) != 650*ms {
			t.Fatalf("down: fault %+v, offset %v", f, inUse(&k))
		}
	})
	t.Run("after refusals, an offset back within the bound still moves by steps", func(t *testing.T) {
		var k redisClock
		_ = k.judge(samplesAt([]time.Duration{time.Hour, time.Hour, time.Hour}, rtts), bound)
		f := k.judge(samplesAt([]time.Duration{800 * ms, 800 * ms, 800 * ms}, rtts), bound)
		if f == nil || f.Reason != ClockJump || inUse(&k) != 250*ms {
			t.Fatalf("fault %+v, offset %v", f, inUse(&k))
		}
	})
}

// faults collects the ClockFaults a connection reports.
type faults struct {
	mu  sync.Mutex
	got []ClockFault
}

func (f *faults) add(c ClockFault) {
	f.mu.Lock()
	f.got = append(f.got, c)
	f.mu.Unlock()
}

func (f *faults) reasons() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r []string
	for _, c := range f.got {
		r = append(r, c.Reason)
	}
	return r
}

// proxiedStore is a store whose TIME answers go through a rewriting proxy
// in front of a real redis-server; the scripts' own TIME reads the real
// clock.
func proxiedStore(t *testing.T, shift func(int) time.Duration, bound time.Duration) (*Redis, *redistest.TimeProxy, *faults) {
	t.Helper()
	srv := redistest.Start(t)
	proxy := redistest.StartTimeProxy(t, srv.Addr)
	proxy.SetShift(shift)
	f := &faults{}
	s := dialStore(t, RedisOptions{Addrs: []string{proxy.Addr}, Timeout: time.Second, MaxClockOffset: bound, OnClockFault: f.add})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, proxy, f
}

// TestRedisClockBeyondTheBound: a Redis whose TIME says 2 hours behind, a
// year ahead, or jumps between answers moves nothing. Its offset is not
// adopted (the store's Now stays on the instance's clock), the fault is
// reported, and consuming commands still work (their scripts read the
// real clock, and their deadline follows it).
func TestRedisClockBeyondTheBound(t *testing.T) {
	year := 365 * 24 * time.Hour
	cases := []struct {
		name   string
		shift  func(int) time.Duration
		reason string
	}{
		{"two hours behind", func(int) time.Duration { return -2 * time.Hour }, ClockOutOfBound},
		{"a year ahead", func(int) time.Duration { return year }, ClockOutOfBound},
		{"jumping between answers", func(n int) time.Duration { return []time.Duration{0, -2 * time.Hour, year}[n%3] }, ClockInconsistent},
		{"jumping by less than the bound", func(n int) time.Duration { return time.Duration(n%2) * 600 * time.Millisecond }, ClockInconsistent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, proxy, f := proxiedStore(t, tc.shift, time.Second)
			if proxy.Answers() < clockSamples {
				t.Fatalf("the measurement took %d TIME answers, want %d", proxy.Answers(), clockSamples)
			}
			if got := f.reasons(); len(got) != 1 || got[0] != tc.reason {
				t.Fatalf("faults %v, want [%s]", got, tc.reason)
			}
			if off, accepted := s.conn.ClockOffset(); off != 0 || accepted {
				t.Fatalf("offset in use %v (accepted %v), want the instance's own clock", off, accepted)
			}
			if d := time.Until(s.Now()); d > 50*time.Millisecond || d < -50*time.Millisecond {
				t.Fatalf("Now is %v from the local clock", d)
			}
			ctx := context.Background()
			if err := s.Set(ctx, "grant", []byte("g"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Take(ctx, "grant"); err != nil || string(v) != "g" {
				t.Fatalf("Take: %q, %v", v, err)
			}
			if _, err := s.Take(ctx, "grant"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a second Take: %v", err)
			}
		})
	}
}

// TestRedisClockWithinTheBound: an offset within the bound is Redis's
// clock as measured; a later change of more than a quarter of the bound is
// a jump, reported, and followed by a quarter of the bound only.
func TestRedisClockWithinTheBound(t *testing.T) {
	s, proxy, f := proxiedStore(t, func(int) time.Duration { return 300 * time.Millisecond }, time.Second)
	if got := f.reasons(); len(got) != 0 {
		t.Fatalf("faults %v", got)
	}
	off, accepted := s.conn.ClockOffset()
	if !accepted || off < 290*time.Millisecond || off > 310*time.Millisecond {
		t.Fatalf("offset %v (accepted %v), want about 300ms", off, accepted)
	}
	proxy.Shift(-700 * time.Millisecond)
	if err := s.conn.measureClock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.reasons(); len(got) != 1 || got[0] != ClockJump {
		t.Fatalf("faults %v, want [jump]", got)
	}
	if moved, _ := s.conn.ClockOffset(); off-moved != 250*time.Millisecond {
		t.Fatalf("offset %v after a jump from %v, want a quarter of the bound less", moved, off)
	}
}

func TestMaxClockOffsetOption(t *testing.T) {
	base := RedisOptions{Addrs: []string{"127.0.0.1:1"}}
	for _, bad := range []time.Duration{-time.Second, time.Microsecond, 2 * time.Hour} {
		o := base
		o.MaxClockOffset = bad
		if err := o.Validate(); err == nil {
			t.Errorf("max clock offset %v accepted", bad)
		}
	}
	o := base
	o.MaxClockOffset = 5 * time.Second
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if base.Identity() == o.Identity() {
		t.Error("the identity does not change with the clock bound: a reload would keep the old bound")
	}
}
