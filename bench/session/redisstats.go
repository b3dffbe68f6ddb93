package main

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisCounters is what the server counted: reads it processed (one per
// request batch a client sent, so one per round trip, a pipeline or an
// EVALSHA included) and calls per command.
type redisCounters struct {
	reads    int64
	commands map[string]int64
}

// snapshot reads both in one INFO call (one read of its own).
func snapshot(ctx context.Context, c *redis.Client) (redisCounters, error) {
	text, err := c.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		return redisCounters{}, err
	}
	out := redisCounters{commands: map[string]int64{}}
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

// perOp is the difference between two snapshots divided by n operations,
// leaving out the INFO call that took the second snapshot.
type perOp struct {
	roundTrips float64
	detail     string // calls per operation by command, e.g. "EVALSHA 1.000, GET 1.000"
}

func delta(before, after redisCounters, n int) perOp {
	if n == 0 {
		return perOp{}
	}
	p := perOp{roundTrips: float64(after.reads-before.reads-1) / float64(n)}
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
	p.detail = strings.Join(parts, ", ")
	return p
}
