package router

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock. Sleep returns at once after moving the
// clock forward (and records the wait); Advance fires due timers in the
// calling goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

type fakeTimer struct {
	c      *fakeClock
	at     time.Time
	f      func()
	active bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.at = t.c.now.Add(d)
	t.active = true
	if !slices.Contains(t.c.timers, t) { // fired or stopped: listed again, as time.Timer
		t.c.timers = append(t.c.timers, t)
	}
	return was
}

// Advance moves the clock by d and runs the timers that came due, in the
// order of their due times.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if t.active && !t.at.After(c.now) {
			t.active = false
			due = append(due, t)
		}
	}
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return !t.active })
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		t.f()
	}
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	c.Advance(d)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func (c *fakeClock) WithDeadline(ctx context.Context, at time.Time, cause error) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := c.AfterFunc(at.Sub(c.Now()), func() { cancel(cause) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

func TestFakeClockFiresDueTimersOnly(t *testing.T) {
	c := newFakeClock()
	var fired []string
	c.AfterFunc(time.Second, func() { fired = append(fired, "1s") })
	t2 := c.AfterFunc(2*time.Second, func() { fired = append(fired, "2s") })
	stopped := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	stopped.Stop()
	c.Advance(1500 * time.Millisecond)
	t2.Reset(time.Second) // now due at 2.5s
	c.Advance(700 * time.Millisecond)
	if want := []string{"1s"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	c.Advance(300 * time.Millisecond)
	if want := []string{"1s", "2s"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
}

func TestBackoffCeiling(t *testing.T) {
	base, max := 500*time.Millisecond, 10*time.Second
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 500 * time.Millisecond},
		{1, time.Second},
		{2, 2 * time.Second},
		{4, 8 * time.Second},
		{5, 10 * time.Second},
		{200, 10 * time.Second}, // no overflow
	}
	for _, tt := range tests {
		if got := backoffCeiling(base, max, tt.n); got != tt.want {
			t.Errorf("backoffCeiling(n=%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}
