package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrEvicting: a Redis master may evict keys. Every key the gateway
// writes has a TTL, so under any policy but noeviction (volatile-* ones
// included) Redis may drop attempt counters, replay markers and
// consumed-grant markers when memory runs short: a guess limit or a
// single-use token would silently start over.
var ErrEvicting = errors.New("store: redis may evict keys (maxmemory-policy is not noeviction)")

// CheckNoEviction asks every master (INFO memory, which managed Redis
// services allow where CONFIG is disabled) for its maxmemory-policy and
// fails with ErrEvicting, naming the policy, unless all are noeviction.
func (c *RedisConn) CheckNoEviction(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var mu sync.Mutex
	var evicting []string
	check := func(ctx context.Context, node redis.UniversalClient) error {
		info, err := node.Info(ctx, "memory").Result()
		if err != nil {
			return c.fail(err)
		}
		policy := infoField(info, "maxmemory_policy")
		if policy == "" {
			return unavailable(errors.New("INFO memory has no maxmemory_policy"))
		}
		if policy != "noeviction" {
			mu.Lock()
			evicting = append(evicting, policy)
			mu.Unlock()
		}
		return nil
	}
	var err error
	if cc, ok := c.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return check(ctx, node) })
	} else {
		err = check(ctx, c.client)
	}
	if err != nil {
		return err
	}
	if len(evicting) > 0 {
		return fmt.Errorf("%w: %s", ErrEvicting, strings.Join(evicting, ", "))
	}
	return nil
}

// infoField reads "name:value" from an INFO reply.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}
