package main

// What the soak measures each interval: latency percentiles, each
// gateway's RSS and goroutines, Redis's memory, and at the end every
// key's TTL.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func row(s sample) string {
	mib := func(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("| %v | %d | %d | %s | %s | %s | %s | %s | %s | %d | %d | %d | %.1f | %s |",
		s.at.Round(time.Second), s.done, s.failed, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max),
		mib(s.rss[0]), mib(s.rss[1]), s.goroutines[0], s.goroutines[1], s.redisKeys, float64(s.redisMem)/(1<<20), mib(s.redisRSS))
}

func percentiles(d []time.Duration) (p50, p95, p99, maxD time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return at(0.50), at(0.95), at(0.99), d[len(d)-1]
}

// vmRSS reads a process's resident set size in KiB.
func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return -1
}

// goroutines reads go_goroutines from the gateway's admin /metrics.
func goroutines(adminPort int) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(rest, 64)
			return int(n)
		}
	}
	return -1
}

func redisUsedMemory(c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(rest, 10, 64)
			return n
		}
	}
	return -1
}

// keyKind is the keys of one shape: how many, and the longest TTL.
type keyKind struct {
	name    string
	count   int
	longest time.Duration
}

// idPart matches what varies between keys of one kind: hash tags, long
// IDs and numbers.
var idPart = regexp.MustCompile(`\{[^}]*\}|[A-Za-z0-9_-]{20,}|[0-9]+`)

// keyTTLs scans every key: how many have no TTL, the longest TTL, and the
// keys by kind, most numerous first.
func (s *soak) keyTTLs() (noTTL int, longest time.Duration, kinds []keyKind, err error) {
	ctx := context.Background()
	byKind := map[string]*keyKind{}
	iter := s.redis.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		ttl, err := s.redis.PTTL(ctx, iter.Val()).Result()
		if err != nil {
			return 0, 0, nil, err
		}
		if ttl == -1 { // go-redis: -1 no expiry, -2 gone meanwhile
			noTTL++
		}
		longest = max(longest, ttl)
		name := idPart.ReplaceAllString(iter.Val(), "X")
		k := byKind[name]
		if k == nil {
			k = &keyKind{name: name}
			byKind[name] = k
		}
		k.count++
		k.longest = max(k.longest, ttl)
	}
	for _, k := range byKind {
		kinds = append(kinds, *k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].count > kinds[j].count })
	return noTTL, longest, kinds, iter.Err()
}
