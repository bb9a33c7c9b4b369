package router

import (
	"context"
	"time"
)

// clock is the router's only source of time, so that tests can replace
// it: the request deadline, backoff sleeps, the stall watchdog and the
// breakers' cool-downs all go through it.
type clock interface {
	Now() time.Time
	// Since is Now().Sub(t); the real clock reads only its monotonic
	// part (one clock reading, not two: the watchdog takes one a chunk).
	Since(t time.Time) time.Duration
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) timer
	// Sleep waits for d or until ctx is done, returning the context's
	// cause in that case.
	Sleep(ctx context.Context, d time.Duration) error
	// WithDeadline is context.WithDeadlineCause on this clock.
	WithDeadline(ctx context.Context, at time.Time, cause error) (context.Context, context.CancelFunc)
}

// timer is the part of *time.Timer the watchdog uses.
type timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Since(t time.Time) time.Duration { return time.Since(t) }

func (realClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func (realClock) WithDeadline(ctx context.Context, at time.Time, cause error) (context.Context, context.CancelFunc) {
	return context.WithDeadlineCause(ctx, at, cause)
}

// backoffCeiling returns min(max, base·2^n), the upper bound of the n-th
// retry's full-jitter wait (n counts from 0).
func backoffCeiling(base, max time.Duration, n int) time.Duration {
	c := base
	for i := 0; i < n && c < max; i++ {
		c *= 2
	}
	return min(c, max)
}
