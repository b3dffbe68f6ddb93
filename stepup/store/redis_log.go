package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLogFunc receives one line that go-redis itself logged (a failed
// dial, a Sentinel's new master), passwords removed, and how many lines
// were dropped since the last one passed (see RouteRedisLog).
type RedisLogFunc func(msg string, dropped int)

// RouteRedisLog sends go-redis's own log lines to log instead of the
// standard library logger on stderr, which prints plain-text lines outside
// the host's structured log. go-redis has one logger per process, so the
// last call wins. Every password of an open RedisConn is removed from the
// line. During an outage go-redis logs each failed dial; at most one line
// per second goes through, the next one saying how many were dropped.
func RouteRedisLog(log RedisLogFunc) {
	redisLog.mu.Lock()
	redisLog.sink = log
	redisLog.mu.Unlock()
	redis.SetLogger(&redisLog)
}

// redisLog is the process-wide logger handed to go-redis.
var redisLog = redisLogger{secrets: map[*RedisConn][]string{}}

type redisLogger struct {
	mu      sync.Mutex
	sink    RedisLogFunc
	secrets map[*RedisConn][]string
	last    time.Time
	dropped int
}

// Printf implements go-redis's logging interface.
func (l *redisLogger) Printf(_ context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	now := time.Now()
	if l.sink == nil || now.Sub(l.last) < time.Second {
		l.dropped++
		l.mu.Unlock()
		return
	}
	for _, secrets := range l.secrets {
		for _, s := range secrets {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	sink, dropped := l.sink, l.dropped
	l.last, l.dropped = now, 0
	l.mu.Unlock()
	sink(strings.TrimPrefix(msg, "redis: "), dropped)
}

// watch and forget keep the passwords of open connections known to the
// logger, so that a line quoting one (a URL in an error) is scrubbed.
func (l *redisLogger) watch(c *RedisConn) {
	if len(c.secrets) == 0 {
		return
	}
	l.mu.Lock()
	l.secrets[c] = c.secrets
	l.mu.Unlock()
}

func (l *redisLogger) forget(c *RedisConn) {
	l.mu.Lock()
	delete(l.secrets, c)
	l.mu.Unlock()
}
