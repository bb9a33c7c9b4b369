package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// InFlight counts the requests in flight per key against a cap. Every
// slot is a lease with an expiry, so a slot whose release never comes (a
// crashed instance, a lost request) frees itself after the lease's TTL.
type InFlight interface {
	// Acquire takes one of max slots of key. ok is false when all are
	// taken; then release is nil. An error means no decision was made.
	Acquire(ctx context.Context, key string, max int) (release func(), ok bool, err error)
}

// MemoryInFlight is an InFlight in the process.
type MemoryInFlight struct {
	TTL time.Duration
	now func() time.Time

	mu   sync.Mutex
	m    map[string]map[uint64]time.Time // key → lease → expiry
	next uint64
}

// NewMemoryInFlight returns leases expiring after ttl.
func NewMemoryInFlight(ttl time.Duration) *MemoryInFlight {
	return &MemoryInFlight{TTL: ttl, now: time.Now, m: map[string]map[uint64]time.Time{}}
}

// Acquire implements InFlight. It never fails.
func (m *MemoryInFlight) Acquire(_ context.Context, key string, max int) (func(), bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	leases := m.m[key]
	for id, exp := range leases {
		if !exp.After(now) {
			delete(leases, id)
		}
	}
	if len(leases) >= max {
		return nil, false, nil
	}
	if leases == nil {
		leases = map[uint64]time.Time{}
		m.m[key] = leases
	}
	m.next++
	id := m.next
	leases[id] = now.Add(m.TTL)
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(m.m[key], id)
			if len(m.m[key]) == 0 {
				delete(m.m, key)
			}
		})
	}, true, nil
}

// RedisInFlight is an InFlight shared through Redis: per key a sorted set
// of leases scored by expiry (ms, Redis TIME), one script per decision.
type RedisInFlight struct {
	rdb      redis.UniversalClient
	prefix   string
	TTL      time.Duration
	instance string
	seq      atomic.Uint64
}

// NewRedisInFlight stores its keys as prefix+key in rdb.
func NewRedisInFlight(rdb redis.UniversalClient, prefix string, ttl time.Duration) *RedisInFlight {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &RedisInFlight{rdb: rdb, prefix: prefix, TTL: ttl, instance: hex.EncodeToString(b)}
}

var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`)

// Acquire implements InFlight.
func (r *RedisInFlight) Acquire(ctx context.Context, key string, max int) (func(), bool, error) {
	lease := r.instance + ":" + strconv.FormatUint(r.seq.Add(1), 10)
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	k := r.prefix + key
	v, err := acquireScript.Run(ctx, r.rdb, []string{k}, max, r.TTL.Milliseconds(), lease).Int()
	if err != nil {
		return nil, false, err
	}
	if v != 1 {
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			rctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
			defer cancel()
			_ = r.rdb.ZRem(rctx, k, lease).Err() // best effort: the lease expires anyway
		})
	}, true, nil
}
