// Package cache stores complete answers under a canonical hash of the
// request that produced them: Memory (a bounded LRU with TTL) for one
// instance, Redis for many, and Tolerant, which turns a broken backend
// into a cache that always misses instead of an error.
package cache

import (
	"context"
	"errors"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Cache stores responses by key. Implementations are safe for concurrent
// use. A miss is (nil, false, nil); an error means the backend failed.
type Cache interface {
	Get(ctx context.Context, key string) (*llm.Response, bool, error)
	// Set stores r for ttl. It refuses an empty response with ErrEmpty;
	// the caller stores only complete, successful answers.
	Set(ctx context.Context, key string, r *llm.Response, ttl time.Duration) error
}

// ErrEmpty is returned by Set for a response with neither text nor tool
// calls.
var ErrEmpty = errors.New("cache: refusing to store an empty response")

// errTTL is returned by Set for a TTL that is not positive.
var errTTL = errors.New("cache: ttl must be positive")

// DefaultTimeout bounds one Redis call made by this package.
const DefaultTimeout = 250 * time.Millisecond

func checkSet(r *llm.Response, ttl time.Duration) error {
	if r == nil || (r.Text == "" && len(r.ToolCalls) == 0) {
		return ErrEmpty
	}
	if ttl <= 0 {
		return errTTL
	}
	return nil
}

// clone copies r so that neither the cache nor its callers see the
// other's later changes.
func clone(r *llm.Response) *llm.Response {
	c := *r
	c.ToolCalls = append([]llm.ToolCall(nil), r.ToolCalls...)
	return &c
}

// errDecode marks an entry that could not be decoded: a bad entry, not a
// broken backend.
var errDecode = errors.New("cache: decode entry")
