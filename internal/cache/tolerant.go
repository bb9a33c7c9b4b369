package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// DefaultCooldown is how long a Tolerant cache leaves a failed backend
// alone before trying it again.
const DefaultCooldown = time.Second

// warnEvery bounds the rate of "cache unavailable" warnings.
const warnEvery = 10 * time.Second

// Tolerant wraps a Cache so that a broken backend degrades to "no cache":
// errors become misses (Get) or no-ops (Set), logged as a warning at most
// once per 10 s. After a failure the backend is skipped for Cooldown, so
// a hanging Redis costs one timeout per cool-down, not one per request;
// then the next call probes it again.
type Tolerant struct {
	next Cache
	log  *slog.Logger
	// Cooldown is the pause after a failure (default DefaultCooldown).
	// Set it before use.
	Cooldown time.Duration

	downUntil  atomic.Int64 // unix ns; 0 when healthy
	lastWarn   atomic.Int64
	suppressed atomic.Int64
}

// NewTolerant wraps c. log receives the warnings; nil discards them.
func NewTolerant(c Cache, log *slog.Logger) *Tolerant {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tolerant{next: c, log: log, Cooldown: DefaultCooldown}
}

// Degraded reports whether the backend is currently skipped (for /health).
func (t *Tolerant) Degraded() bool { return t.downUntil.Load() != 0 }

// Get implements Cache; it never returns an error.
func (t *Tolerant) Get(ctx context.Context, key string) (*llm.Response, bool, error) {
	if !t.try() {
		return nil, false, nil
	}
	r, ok, err := t.next.Get(ctx, key)
	if err != nil {
		t.failed(ctx, "get", err)
		return nil, false, nil
	}
	t.succeeded()
	return r, ok, nil
}

// Set implements Cache. It returns only the caller's mistakes (ErrEmpty,
// a TTL that is not positive); backend errors are logged and dropped.
func (t *Tolerant) Set(ctx context.Context, key string, r *llm.Response, ttl time.Duration) error {
	if err := checkSet(r, ttl); err != nil {
		return err
	}
	if !t.try() {
		return nil
	}
	if err := t.next.Set(ctx, key, r, ttl); err != nil {
		t.failed(ctx, "set", err)
		return nil
	}
	t.succeeded()
	return nil
}

func (t *Tolerant) try() bool {
	until := t.downUntil.Load()
	if until == 0 {
		return true
	}
	now := time.Now().UnixNano()
	return now >= until && t.downUntil.CompareAndSwap(until, now+int64(t.cooldown()))
}

func (t *Tolerant) succeeded() {
	if t.downUntil.Load() != 0 && t.downUntil.Swap(0) != 0 {
		t.log.Info("response cache backend is back")
	}
}

func (t *Tolerant) failed(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return // the caller gave up; says nothing about the backend
	}
	now := time.Now().UnixNano()
	if !errors.Is(err, errDecode) {
		t.downUntil.Store(now + int64(t.cooldown()))
	}
	last := t.lastWarn.Load()
	if now-last < int64(warnEvery) || !t.lastWarn.CompareAndSwap(last, now) {
		t.suppressed.Add(1)
		return
	}
	t.log.Warn("response cache unavailable, serving without it", "op", op, "err", err, "suppressed", t.suppressed.Swap(0))
}

func (t *Tolerant) cooldown() time.Duration {
	if t.Cooldown > 0 {
		return t.Cooldown
	}
	return DefaultCooldown
}
