package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisCounters is what the server counted: reads it processed (one per
// request batch a client sent, so one per round trip, a pipeline or an
// EVALSHA included) and calls per command.
type RedisCounters struct {
	reads    int64
	commands map[string]int64
}

// Snapshot reads both in one INFO call (one read of its own).
func Snapshot(ctx context.Context, c *redis.Client) (RedisCounters, error) {
	text, err := c.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		return RedisCounters{}, err
	}
	out := RedisCounters{commands: map[string]int64{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "total_reads_processed:"); ok {
			out.reads, _ = strconv.ParseInt(v, 10, 64)
		}
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			for _, f := range strings.Split(fields, ",") {
				if v, ok := strings.CutPrefix(f, "calls="); ok {
					out.commands[name], _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
	}
	return out, sc.Err()
}

// PerOp is what the server processed per operation between two snapshots.
type PerOp struct {
	RoundTrips float64
	Detail     string // calls per operation by command, e.g. "EVALSHA 1.000, GET 1.000"
}

// Delta is the difference between two snapshots divided by n operations,
// leaving out the INFO call that took the second snapshot.
func Delta(before, after RedisCounters, n int) PerOp {
	if n == 0 {
		return PerOp{}
	}
	p := PerOp{RoundTrips: float64(after.reads-before.reads-1) / float64(n)}
	var names []string
	for name, calls := range after.commands {
		if name == "info" || calls == before.commands[name] {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		d := float64(after.commands[name]-before.commands[name]) / float64(n)
		parts = append(parts, fmt.Sprintf("%s %.3f", strings.ToUpper(name), d))
	}
	p.Detail = strings.Join(parts, ", ")
	return p
}
