package router

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

func healthOf(t *testing.T, b *Breakers, name string) TargetHealth {
	t.Helper()
	for _, h := range b.Health() {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no health for %q in %+v", name, b.Health())
	return TargetHealth{}
}

// A dead primary opens after Failures failed attempts, is then skipped
// without an attempt, is probed once after the cool-down (a failed probe
// opens it again), and closes when a probe succeeds.
func TestBreakerLifecycle(t *testing.T) {
	b := NewBreakers(BreakerConfig{Failures: 2, Cooldown: 30 * time.Second})
	p := testPolicy()
	p.Retries = 0
	prim := fp.New("google")
	prim.SetDefault(fp.Err(unavailable("google")))
	sec := fp.New("ollama")
	sec.SetDefault(fp.Text("ok"))
	r, clk := newTestRouter(t, p, b, gemini(prim), ollama(sec))

	steps := []struct {
		name      string
		before    func()
		wantCalls int // primary calls so far
		wantState string
		wantFails int
	}{
		{name: "first failure", wantCalls: 1, wantState: StateClosed, wantFails: 1},
		{name: "second failure opens", wantCalls: 2, wantState: StateOpen, wantFails: 2},
		{name: "open is skipped", wantCalls: 2, wantState: StateOpen, wantFails: 2},
		{name: "still open before the cool-down", before: func() { clk.Advance(29 * time.Second) }, wantCalls: 2, wantState: StateOpen, wantFails: 2},
		{name: "failed probe opens again", before: func() { clk.Advance(time.Second) }, wantCalls: 3, wantState: StateOpen, wantFails: 3},
		{name: "skipped after the failed probe", wantCalls: 3, wantState: StateOpen, wantFails: 3},
		{name: "successful probe closes", before: func() {
			clk.Advance(30 * time.Second)
			prim.SetDefault(fp.Text("back"))
		}, wantCalls: 4, wantState: StateClosed, wantFails: 0},
		{name: "closed serves", wantCalls: 5, wantState: StateClosed, wantFails: 0},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		res := drain(context.Background(), r)
		if res.err != nil {
			t.Fatalf("%s: %v", s.name, res.err)
		}
		if got := prim.NumCalls(); got != s.wantCalls {
			t.Errorf("%s: primary calls = %d, want %d", s.name, got, s.wantCalls)
		}
		h := healthOf(t, b, "google/gemini")
		if h.State != s.wantState || h.ConsecutiveFailures != s.wantFails {
			t.Errorf("%s: health = %+v, want %s with %d failures", s.name, h, s.wantState, s.wantFails)
		}
	}
	// Recovered: health shows no stale error (issue 18 item 10).
	if h := healthOf(t, b, "google/gemini"); h.LastError != "" || !h.OpenUntil.IsZero() {
		t.Errorf("closed health = %+v, want no last error and no open-until", h)
	}
	if len(clk.Sleeps()) != 0 {
		t.Errorf("sleeps = %v; retries were off", clk.Sleeps())
	}
}

func TestBreakerHealthStates(t *testing.T) {
	clk := newFakeClock()
	b := NewBreakers(BreakerConfig{Failures: 1, Cooldown: 10 * time.Second})
	b.now = clk.Now
	br := b.get("x")
	br.failure("boom")
	h := b.Health()[0]
	if h.State != StateOpen || !h.OpenUntil.Equal(clk.Now().Add(10*time.Second)) || h.LastError != "boom" {
		t.Errorf("after failure: %+v", h)
	}
	clk.Advance(10 * time.Second)
	if h := b.Health()[0]; h.State != StateHalfOpen {
		t.Errorf("after cool-down: %+v, want half_open", h)
	}
}

// Half-open lets exactly one probe through; a probe that ends without a
// verdict frees the slot.
func TestBreakerSingleProbe(t *testing.T) {
	clk := newFakeClock()
	b := NewBreakers(BreakerConfig{Failures: 1, Cooldown: time.Second})
	b.now = clk.Now
	br := b.get("x")
	br.failure("down")
	if ok, _ := br.allow(); ok {
		t.Fatal("open breaker allowed a request")
	}
	clk.Advance(time.Second)
	if ok, probe := br.allow(); !ok || !probe {
		t.Fatalf("half-open breaker: ok=%v probe=%v, want a probe", ok, probe)
	}
	if ok, _ := br.allow(); ok {
		t.Fatal("second request allowed while the probe is in flight")
	}
	br.release()
	if ok, probe := br.allow(); !ok || !probe {
		t.Fatalf("after release: ok=%v probe=%v, want a new probe", ok, probe)
	}
}

// When every breaker is open, the primary is still tried once (no
// retries) rather than failing with nothing tried.
func TestBreakerAllOpenTriesPrimaryOnce(t *testing.T) {
	b := NewBreakers(BreakerConfig{Failures: 1, Cooldown: time.Minute})
	prim := fp.New("google")
	prim.SetDefault(fp.Err(unavailable("google")))
	sec := fp.New("ollama")
	sec.SetDefault(fp.Err(unavailable("ollama")))
	r, clk := newTestRouter(t, testPolicy(), b, gemini(prim), ollama(sec))

	res := drain(context.Background(), r) // opens both
	if llm.KindOf(res.err) != llm.KindUnavailable || prim.NumCalls() != 1 || sec.NumCalls() != 1 {
		t.Fatalf("first request: %v, calls %d/%d", res.err, prim.NumCalls(), sec.NumCalls())
	}
	res = drain(context.Background(), r)
	if prim.NumCalls() != 2 || sec.NumCalls() != 1 {
		t.Errorf("all open: calls %d/%d, want the primary once more and nothing else", prim.NumCalls(), sec.NumCalls())
	}
	if msg := res.err.Error(); !strings.Contains(msg, "google/gemini: connection refused") || !strings.Contains(msg, "ollama/llama: circuit open (last error: connection refused)") {
		t.Errorf("error %q should name the primary's failure and the open fallback", msg)
	}
	if len(clk.Sleeps()) != 0 {
		t.Errorf("sleeps = %v, want none: opening stops retries", clk.Sleeps())
	}

	prim.SetDefault(fp.Text("hi"))
	if res := drain(context.Background(), r); res.err != nil || res.text != "hi" {
		t.Fatalf("forced try: %+v", res)
	}
	if h := healthOf(t, b, "google/gemini"); h.State != StateClosed {
		t.Errorf("primary after a successful forced try: %+v, want closed", h)
	}
}

// Failures that say nothing about the target do not count.
func TestBreakerIgnoresRequestErrors(t *testing.T) {
	b := NewBreakers(BreakerConfig{Failures: 1})
	prim := fp.New("google",
		[]fp.Step{fp.Err(kindErr(llm.KindInvalid))},
		[]fp.Step{fp.Err(kindErr(llm.KindBlocked))},
		[]fp.Step{fp.Chunk(llm.Chunk{FinishReason: llm.FinishLength})},
	)
	sec := fp.New("ollama")
	sec.SetDefault(fp.Text("ok"))
	r, _ := newTestRouter(t, testPolicy(), b, gemini(prim), ollama(sec))
	for range 3 {
		drain(context.Background(), r)
	}
	if h := healthOf(t, b, "google/gemini"); h.State != StateClosed || h.ConsecutiveFailures != 0 {
		t.Errorf("health = %+v, want closed with no failures", h)
	}
}

// Retries on a target stop as soon as its breaker opens.
func TestBreakerOpenStopsRetries(t *testing.T) {
	b := NewBreakers(BreakerConfig{Failures: 2})
	prim := fp.New("google")
	prim.SetDefault(fp.Err(unavailable("google")))
	sec := fp.New("ollama", []fp.Step{fp.Text("ok")})
	r, _ := newTestRouter(t, testPolicy(), b, gemini(prim), ollama(sec))
	if res := drain(context.Background(), r); res.text != "ok" {
		t.Fatalf("result %+v", res)
	}
	if n := prim.NumCalls(); n != 2 {
		t.Errorf("primary calls = %d, want 2 (the breaker opened at the second)", n)
	}
}

// Routers built over the same targets share the breakers, and concurrent
// requests are race-free.
func TestBreakersSharedAndConcurrent(t *testing.T) {
	b := NewBreakers(BreakerConfig{Failures: 3, Cooldown: time.Hour})
	prim := fp.New("google")
	prim.SetDefault(fp.Err(unavailable("google")))
	sec := fp.New("ollama")
	sec.SetDefault(fp.Text("ok"))
	p := testPolicy()
	p.Retries = 0
	r1, clk := newTestRouter(t, p, b, gemini(prim), ollama(sec))
	r2 := New([]Target{gemini(prim)}, p, b)
	r2.clock, r2.randN = clk, r1.randN

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if res := drain(context.Background(), r1); res.err != nil {
				t.Errorf("r1: %v", res.err)
			}
			_ = b.Health()
		})
	}
	wg.Wait()
	if h := healthOf(t, b, "google/gemini"); h.State != StateOpen {
		t.Fatalf("health = %+v, want open", h)
	}
	before := prim.NumCalls()
	// r2 has only the primary, which is open: it is tried once anyway.
	if res := drain(context.Background(), r2); llm.KindOf(res.err) != llm.KindUnavailable || prim.NumCalls() != before+1 {
		t.Errorf("r2 over an open shared breaker: %v, calls %d→%d", res.err, before, prim.NumCalls())
	}
}
