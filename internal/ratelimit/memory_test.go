package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// action is one step of a limiter scenario: advance the clock, then
// admit tokens (or reconcile when reconcile is set) and compare.
type action struct {
	advance   time.Duration
	tokens    int
	reconcile *[2]int // reserved, actual
	want      Decision
}

func TestMemoryScenarios(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		steps  []action
	}{
		{
			name:   "requests per minute, burst then refill",
			limits: Limits{RPM: 3},
			steps: []action{
				{want: Decision{Allowed: true, Requests: State{3, 2, 20 * time.Second}}},
				{want: Decision{Allowed: true, Requests: State{3, 1, 40 * time.Second}}},
				{want: Decision{Allowed: true, Requests: State{3, 0, 60 * time.Second}}},
				{want: Decision{Limit: LimitRequests, RetryAfter: 20 * time.Second, Requests: State{3, 0, 60 * time.Second}}},
				{advance: 19 * time.Second, want: Decision{Limit: LimitRequests, RetryAfter: time.Second, Requests: State{3, 0, 41 * time.Second}}},
				{advance: time.Second, want: Decision{Allowed: true, Requests: State{3, 0, 60 * time.Second}}},
				{advance: time.Hour, want: Decision{Allowed: true, Requests: State{3, 2, 20 * time.Second}}},
			},
		},
		{
			name:   "tokens per minute",
			limits: Limits{TPM: 1000},
			steps: []action{
				{tokens: 600, want: Decision{Allowed: true, Tokens: State{1000, 400, 36 * time.Second}}},
				{tokens: 500, want: Decision{Limit: LimitTokens, RetryAfter: 6 * time.Second, Tokens: State{1000, 400, 36 * time.Second}}},
				{advance: 6 * time.Second, tokens: 500, want: Decision{Allowed: true, Tokens: State{1000, 0, 60 * time.Second}}},
				{tokens: 0, want: Decision{Allowed: true, Tokens: State{1000, 0, 60 * time.Second}}},
			},
		},
		{
			name:   "a rejection charges neither dimension",
			limits: Limits{RPM: 10, TPM: 100},
			steps: []action{
				{tokens: 100, want: Decision{Allowed: true, Requests: State{10, 9, 6 * time.Second}, Tokens: State{100, 0, 60 * time.Second}}},
				{tokens: 1, want: Decision{Limit: LimitTokens, RetryAfter: 600 * time.Millisecond, Requests: State{10, 9, 6 * time.Second}, Tokens: State{100, 0, 60 * time.Second}}},
				{advance: 6 * time.Second, tokens: 10, want: Decision{Allowed: true, Requests: State{10, 9, 6 * time.Second}, Tokens: State{100, 0, 60 * time.Second}}},
			},
		},
		{
			name:   "the longer wait names the limit",
			limits: Limits{RPM: 1, TPM: 100},
			steps: []action{
				{tokens: 10, want: Decision{Allowed: true, Requests: State{1, 0, time.Minute}, Tokens: State{100, 90, 6 * time.Second}}},
				{tokens: 100, want: Decision{Limit: LimitRequests, RetryAfter: time.Minute, Requests: State{1, 0, time.Minute}, Tokens: State{100, 90, 6 * time.Second}}},
			},
		},
		{
			name:   "an estimate above the budget waits for a full budget",
			limits: Limits{TPM: 100},
			steps: []action{
				{tokens: 5000, want: Decision{Allowed: true, Tokens: State{100, 0, time.Minute}}},
				{advance: 30 * time.Second, tokens: 5000, want: Decision{Limit: LimitTokens, RetryAfter: 30 * time.Second, Tokens: State{100, 50, 30 * time.Second}}},
			},
		},
		{
			name:   "unlimited",
			limits: Limits{},
			steps: []action{
				{tokens: 1 << 30, want: Decision{Allowed: true}},
				{tokens: 1 << 30, want: Decision{Allowed: true}},
			},
		},
		{
			name:   "refund makes room",
			limits: Limits{TPM: 1000},
			steps: []action{
				{tokens: 1000, want: Decision{Allowed: true, Tokens: State{1000, 0, time.Minute}}},
				{reconcile: &[2]int{1000, 200}},
				{tokens: 800, want: Decision{Allowed: true, Tokens: State{1000, 0, time.Minute}}},
				{tokens: 1, want: Decision{Limit: LimitTokens, RetryAfter: 60 * time.Millisecond, Tokens: State{1000, 0, time.Minute}}},
			},
		},
		{
			name:   "over-use charges the difference",
			limits: Limits{TPM: 1000},
			steps: []action{
				{tokens: 100, want: Decision{Allowed: true, Tokens: State{1000, 900, 6 * time.Second}}},
				{reconcile: &[2]int{100, 1500}},
				{tokens: 1, want: Decision{Limit: LimitTokens, RetryAfter: 30*time.Second + 60*time.Millisecond, Tokens: State{1000, 0, 90 * time.Second}}},
				{advance: 30 * time.Second, tokens: 0, want: Decision{Allowed: true, Tokens: State{1000, 0, time.Minute}}},
			},
		},
		{
			name:   "refund never goes below an empty bucket",
			limits: Limits{TPM: 1000},
			steps: []action{
				{tokens: 100, want: Decision{Allowed: true, Tokens: State{1000, 900, 6 * time.Second}}},
				{reconcile: &[2]int{100, 0}},
				{reconcile: &[2]int{5000, 0}},
				{tokens: 1000, want: Decision{Allowed: true, Tokens: State{1000, 0, time.Minute}}},
			},
		},
		{
			name:   "debt is bounded",
			limits: Limits{TPM: 10},
			steps: []action{
				{tokens: 10, want: Decision{Allowed: true, Tokens: State{10, 0, time.Minute}}},
				{reconcile: &[2]int{10, 1 << 40}},
				{tokens: 1, want: Decision{Limit: LimitTokens, RetryAfter: 9*time.Minute + 6*time.Second, Tokens: State{10, 0, 10 * time.Minute}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			m := NewMemoryClock(clk.Now)
			runSteps(t, m, clk, tt.limits, tt.steps)
		})
	}
}

func runSteps(t *testing.T, m *Memory, clk *fakeClock, l Limits, steps []action) {
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.reconcile != nil {
			if err := m.Reconcile(ctx, "k", l, s.reconcile[0], s.reconcile[1]); err != nil {
				t.Fatalf("step %d: Reconcile: %v", i, err)
			}
			continue
		}
		got, err := m.Admit(ctx, "k", l, s.tokens)
		if err != nil {
			t.Fatalf("step %d: Admit: %v", i, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Fatalf("step %d: decision (-want +got):\n%s", i, diff)
		}
	}
}

func TestMemoryKeysAndOverrides(t *testing.T) {
	clk := newClock()
	m := NewMemoryClock(clk.Now)
	p := Policy{Default: Limits{RPM: 1}, Overrides: map[string]Limits{"vip": {RPM: 3}}}
	ctx := context.Background()
	allowed := map[string]int{}
	for range 5 {
		for _, k := range []string{"alice", "bob", "vip"} {
			d, _ := m.Admit(ctx, k, p.For(k), 0)
			if d.Allowed {
				allowed[k]++
			}
		}
	}
	want := map[string]int{"alice": 1, "bob": 1, "vip": 3}
	if diff := cmp.Diff(want, allowed); diff != "" {
		t.Fatalf("admitted per key (-want +got):\n%s", diff)
	}
}

func TestPolicyFor(t *testing.T) {
	p := Policy{Default: Limits{RPM: 60, TPM: 1000}, Overrides: map[string]Limits{"vip": {RPM: 600}}}
	tests := []struct {
		key  string
		want Limits
	}{
		{"someone", Limits{RPM: 60, TPM: 1000}},
		{"vip", Limits{RPM: 600}}, // an override replaces both values
		{"", Limits{RPM: 60, TPM: 1000}},
	}
	for _, tt := range tests {
		if got := p.For(tt.key); got != tt.want {
			t.Errorf("For(%q) = %+v, want %+v", tt.key, got, tt.want)
		}
	}
	if (Policy{}).For("x") != (Limits{}) {
		t.Error("zero Policy should give unlimited limits")
	}
}

func TestMemoryConcurrentExact(t *testing.T) {
	const n = 100
	clk := newClock() // frozen: nothing refills during the test
	m := NewMemoryClock(clk.Now)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 2 * n {
		wg.Go(func() {
			d, _ := m.Admit(context.Background(), "k", Limits{RPM: n, TPM: 10 * n}, 5)
			if d.Allowed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("allowed %d of %d, want exactly %d", ok.Load(), 2*n, n)
	}
}

func TestMemorySweep(t *testing.T) {
	clk := newClock()
	m := NewMemoryClock(clk.Now)
	ctx := context.Background()
	for i := range 10 {
		m.Admit(ctx, fmt.Sprint("k", i), Limits{RPM: 10}, 0)
	}
	m.Admit(ctx, "busy", Limits{RPM: 1}, 0)
	clk.Advance(30 * time.Second)
	m.sweep(clk.Now().UnixNano())
	if got := m.Len(); got != 1 {
		t.Fatalf("after sweep: %d keys, want 1 (the one still refilling)", got)
	}
	// The swept state is equivalent to a fresh one, and the busy key is kept.
	if d, _ := m.Admit(ctx, "k1", Limits{RPM: 10}, 0); !d.Allowed || d.Requests.Remaining != 9 {
		t.Fatalf("swept key: %+v, want allowed with 9 remaining", d)
	}
	if d, _ := m.Admit(ctx, "busy", Limits{RPM: 1}, 0); d.Allowed {
		t.Fatal("busy key was forgotten by the sweep")
	}
}

func TestMemorySweepRace(t *testing.T) {
	// Admissions racing with sweeps never lose a charge. Every key starts
	// idle (sweepable); two admissions per key against a limit of one
	// must admit exactly one per key however the sweeps interleave.
	const n = 200
	clk := newClock() // frozen
	m := NewMemoryClock(clk.Now)
	for i := range n {
		m.lock(fmt.Sprint("k", i)).mu.Unlock()
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-stop:
				return
			default:
				m.sweep(clk.Now().UnixNano())
			}
		}
	}()
	for i := range 2 * n {
		wg.Go(func() {
			if d, _ := m.Admit(context.Background(), fmt.Sprint("k", i%n), Limits{RPM: 1}, 0); d.Allowed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-swept
	if ok.Load() != n {
		t.Fatalf("allowed %d, want exactly %d (one per key)", ok.Load(), n)
	}
}

func TestMemoryAutoSweep(t *testing.T) {
	clk := newClock()
	m := NewMemoryClock(clk.Now)
	ctx := context.Background()
	for i := range 100 {
		m.Admit(ctx, fmt.Sprint("old", i), Limits{RPM: 10}, 0)
	}
	clk.Advance(2 * Window)
	m.Admit(ctx, "new", Limits{}, 0) // unlimited: touches no key, triggers the sweep
	deadline := time.Now().Add(10 * time.Second)
	for m.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("auto sweep left %d keys", m.Len())
		}
		time.Sleep(time.Millisecond)
	}
}
