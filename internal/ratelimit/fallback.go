package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// FailPolicy says what a Fallback does while its primary is unreachable.
type FailPolicy int

const (
	// FailOpen serves: decisions are made by the local limiter, so each
	// instance enforces the limits on its own traffic only.
	FailOpen FailPolicy = iota
	// FailClosed refuses: Admit returns an error (KindUnavailable, with
	// ErrUnavailable in its chain) that the server maps to 503.
	FailClosed
)

// String returns "open" or "closed".
func (p FailPolicy) String() string {
	if p == FailClosed {
		return "closed"
	}
	return "open"
}

// DefaultCooldown is how long a Fallback leaves its primary alone after a
// failure before probing it again.
const DefaultCooldown = time.Second

// warnEvery bounds the rate of "backend unavailable" warnings.
const warnEvery = 10 * time.Second

// Fallback is a Limiter that uses a shared primary (Redis) and, when the
// primary fails, applies its FailPolicy. After a failure it skips the
// primary for Cooldown, so an outage costs one short timeout per
// cool-down rather than one per request; then one caller probes it and,
// on success, everybody goes back to it.
type Fallback struct {
	primary Limiter
	local   *Memory
	policy  FailPolicy
	log     *slog.Logger
	// Cooldown is the pause between probes of a failed primary
	// (default DefaultCooldown). Set it before use.
	Cooldown time.Duration

	downUntil  atomic.Int64 // unix ns; 0 when the primary is healthy
	lastWarn   atomic.Int64 // unix ns of the last warning
	suppressed atomic.Int64 // failures not logged since then
}

// WithFallback returns a Limiter that asks primary and, when it fails,
// follows p: FailOpen decides with local, FailClosed returns an error.
// log receives at most one warning per 10 s while the primary is down,
// and a notice when it is back; nil discards them.
func WithFallback(primary Limiter, local *Memory, p FailPolicy, log *slog.Logger) *Fallback {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if local == nil {
		local = NewMemory()
	}
	return &Fallback{primary: primary, local: local, policy: p, log: log, Cooldown: DefaultCooldown}
}

// Degraded reports whether the primary is currently considered down
// (for /health).
func (f *Fallback) Degraded() bool { return f.downUntil.Load() != 0 }

// Admit implements Limiter.
func (f *Fallback) Admit(ctx context.Context, key string, l Limits, tokens int) (Decision, error) {
	if f.usePrimary() {
		d, err := f.primary.Admit(ctx, key, l, tokens)
		if err == nil {
			f.succeeded()
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, err // the caller gave up; says nothing about the primary
		}
		f.failed(err)
		if f.policy == FailClosed {
			return Decision{}, unavailable(err)
		}
	} else if f.policy == FailClosed {
		return Decision{}, unavailable(fmt.Errorf("ratelimit: primary down, next probe pending"))
	}
	return f.local.Admit(ctx, key, l, tokens)
}

// Reconcile implements Limiter. While the primary is down it reconciles
// locally under FailOpen and drops the correction under FailClosed.
func (f *Fallback) Reconcile(ctx context.Context, key string, l Limits, reserved, actual int) error {
	if f.usePrimary() {
		err := f.primary.Reconcile(ctx, key, l, reserved, actual)
		if err == nil {
			f.succeeded()
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		f.failed(err)
	}
	if f.policy == FailOpen {
		return f.local.Reconcile(ctx, key, l, reserved, actual)
	}
	return nil
}

func unavailable(err error) error {
	return &llm.Error{
		Kind:    llm.KindUnavailable,
		Message: "rate limiter unavailable",
		Err:     fmt.Errorf("%w: %w", ErrUnavailable, err),
	}
}

// usePrimary reports whether this call should go to the primary: always
// while it is healthy; after a failure, only the one caller that wins the
// probe once the cool-down has passed.
func (f *Fallback) usePrimary() bool {
	until := f.downUntil.Load()
	if until == 0 {
		return true
	}
	now := time.Now().UnixNano()
	if now < until {
		return false
	}
	return f.downUntil.CompareAndSwap(until, now+int64(f.cooldown()))
}

func (f *Fallback) succeeded() {
	if f.downUntil.Load() != 0 && f.downUntil.Swap(0) != 0 {
		f.log.Info("rate limiter backend is back", "policy", f.policy.String())
	}
}

func (f *Fallback) failed(err error) {
	now := time.Now().UnixNano()
	f.downUntil.Store(now + int64(f.cooldown()))
	last := f.lastWarn.Load()
	if now-last < int64(warnEvery) || !f.lastWarn.CompareAndSwap(last, now) {
		f.suppressed.Add(1)
		return
	}
	f.log.Warn("rate limiter backend unavailable",
		"policy", f.policy.String(), "err", err, "suppressed", f.suppressed.Swap(0))
}

func (f *Fallback) cooldown() time.Duration {
	if f.Cooldown > 0 {
		return f.Cooldown
	}
	return DefaultCooldown
}
