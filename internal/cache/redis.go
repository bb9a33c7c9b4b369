package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/redis/go-redis/v9"
)

// Redis is a cache shared by every instance using the same Redis and
// prefix. A value is the JSON of an llm.Response, stored with SET PX.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	// Timeout bounds each call (default DefaultTimeout). It is honoured
	// only by clients with ContextTimeoutEnabled.
	Timeout time.Duration
}

// NewRedis returns a cache storing its entries as prefix+key in rdb.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, Timeout: DefaultTimeout}
}

// Get implements Cache. An entry that does not decode is a miss and is
// deleted.
func (c *Redis) Get(ctx context.Context, key string) (*llm.Response, bool, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	b, err := c.rdb.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cache: redis get: %w", err)
	}
	var r llm.Response
	if err := json.Unmarshal(b, &r); err != nil {
		c.rdb.Del(ctx, c.prefix+key)
		return nil, false, fmt.Errorf("%w: %w", errDecode, err)
	}
	return &r, true, nil
}

// Set implements Cache.
func (c *Redis) Set(ctx context.Context, key string, r *llm.Response, ttl time.Duration) error {
	if err := checkSet(r, ttl); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("cache: encode entry: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := c.rdb.Set(ctx, c.prefix+key, b, ttl).Err(); err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

func (c *Redis) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}
