package cache

import (
	"context"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// Memory is an in-process cache: an LRU bounded in entries whose items
// expire after their TTL, capped at the cache's MaxTTL.
type Memory struct {
	lru    *expirable.LRU[string, memEntry]
	maxTTL time.Duration
	now    func() time.Time
}

type memEntry struct {
	r       *llm.Response
	expires time.Time
}

// NewMemory returns a cache holding at most size responses, none longer
// than maxTTL. Expired entries are also purged in the background.
func NewMemory(size int, maxTTL time.Duration) *Memory {
	return newMemoryClock(size, maxTTL, time.Now)
}

func newMemoryClock(size int, maxTTL time.Duration, now func() time.Time) *Memory {
	return &Memory{lru: expirable.NewLRU[string, memEntry](max(size, 1), nil, maxTTL), maxTTL: maxTTL, now: now}
}

// Get implements Cache. It never fails.
func (m *Memory) Get(_ context.Context, key string) (*llm.Response, bool, error) {
	e, ok := m.lru.Get(key)
	if !ok {
		return nil, false, nil
	}
	if !m.now().Before(e.expires) {
		m.lru.Remove(key)
		return nil, false, nil
	}
	return clone(e.r), true, nil
}

// Set implements Cache; ttl is capped at the cache's maxTTL.
func (m *Memory) Set(_ context.Context, key string, r *llm.Response, ttl time.Duration) error {
	if err := checkSet(r, ttl); err != nil {
		return err
	}
	if m.maxTTL > 0 {
		ttl = min(ttl, m.maxTTL)
	}
	m.lru.Add(key, memEntry{r: clone(r), expires: m.now().Add(ttl)})
	return nil
}

// Len returns the number of entries held, expired ones included until
// they are purged.
func (m *Memory) Len() int { return m.lru.Len() }
