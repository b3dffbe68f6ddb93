package store

import (
	"context"
	"strings"
	"testing"
)

func TestRedisLogScrubsPasswordsAndLimitsTheRate(t *testing.T) {
	type line struct {
		msg     string
		dropped int
	}
	var got []line
	RouteRedisLog(func(msg string, dropped int) { got = append(got, line{msg, dropped}) })
	t.Cleanup(func() { RouteRedisLog(nil) })

	conn, err := DialRedis(RedisOptions{URL: "redis://:pw-in-url@127.0.0.1:1/0", Password: "pw-override"})
	if err != nil {
		t.Fatal(err)
	}
	redisLog.mu.Lock()
	redisLog.last = redisLog.last.AddDate(-1, 0, 0) // let the next line through
	redisLog.mu.Unlock()

	redisLog.Printf(context.Background(), "redis: dial %s as %s failed", "redis://:pw-in-url@127.0.0.1:1", "pw-override")
	redisLog.Printf(context.Background(), "redis: second line %d", 2)
	redisLog.Printf(context.Background(), "redis: third line %d", 3)
	if len(got) != 1 {
		t.Fatalf("%d lines went through within a second, want 1: %v", len(got), got)
	}
	if strings.Contains(got[0].msg, "pw-") || !strings.Contains(got[0].msg, "[redacted]") || strings.HasPrefix(got[0].msg, "redis: ") {
		t.Fatalf("line %q", got[0].msg)
	}

	redisLog.mu.Lock()
	redisLog.last = redisLog.last.AddDate(-1, 0, 0)
	redisLog.mu.Unlock()
	redisLog.Printf(context.Background(), "redis: fourth line")
	if len(got) != 2 || got[1].dropped != 2 || got[1].msg != "fourth line" {
		t.Fatalf("after the pause: %v", got)
	}

	// A closed connection's passwords are forgotten with it.
	_ = conn.Close()
	redisLog.mu.Lock()
	_, known := redisLog.secrets[conn]
	redisLog.mu.Unlock()
	if known {
		t.Error("the closed connection's passwords are still held")
	}
}
