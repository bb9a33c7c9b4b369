package gateway

import (
	"context"
	"errors"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/track"
)

type oneRoute struct{ p llm.Provider }

func (o oneRoute) Resolve(model, provider string) (Route, error) {
	if model == "missing" {
		return Route{}, ErrNoRoute
	}
	return Route{Name: "default", P: o.p, Provider: "google", Model: "gemini"}, nil
}

// triedTwice records a failed attempt on openai before p answers, as
// the router does.
type triedTwice struct{ p llm.Provider }

func (t triedTwice) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	tr, start := llm.TraceFrom(ctx), time.Now()
	tr.Add(llm.Attempt{Provider: "openai", Model: "gpt-4o", Start: start, Duration: time.Millisecond,
		Err: llm.Errorf(llm.KindUnavailable, "openai", "HTTP 503")})
	tr.Add(llm.Attempt{Provider: "google", Model: "gemini", Start: start.Add(time.Millisecond), Duration: time.Millisecond})
	return t.p.Stream(ctx, req)
}

type mapCache struct {
	mu sync.Mutex
	m  map[string]*llm.Response
}

func (c *mapCache) Get(_ context.Context, k string) (*llm.Response, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[k]
	return r, ok, nil
}

func (c *mapCache) Set(_ context.Context, k string, r *llm.Response, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = r
	return nil
}

type fixedLimiter struct {
	adm        Admission
	reconciled []int
}

func (l *fixedLimiter) Admit(context.Context, string, int) (Admission, error) { return l.adm, nil }
func (l *fixedLimiter) Reconcile(_ context.Context, _ string, reserved, actual int) {
	l.reconciled = append(l.reconciled, reserved, actual)
}

type fixedBudget struct {
	err       error
	committed []float64
}

func (b *fixedBudget) Reserve(context.Context, Identity, float64) (func(float64), error) {
	if b.err != nil {
		return nil, b.err
	}
	return func(usd float64) { b.committed = append(b.committed, usd) }, nil
}

type flatPrice struct{}

func (flatPrice) Cost(_, _ string, u llm.Usage) (float64, bool) {
	return float64(u.Total()) / 1000, true
}
func (flatPrice) Version() string { return "test-1" }

func answer() []fakeprovider.Step {
	return []fakeprovider.Step{fakeprovider.Text("hi"),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "stop", Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2, TotalTokens: 5}, Provider: "google", Model: "gemini"})}
}

func run(t *testing.T, g *Gateway, in *Input) (*Result, error) {
	t.Helper()
	res, seq, err := g.Chat(context.Background(), in)
	if err != nil {
		return res, err
	}
	for _, err := range seq {
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func input(model string) *Input {
	return &Input{RequestID: "r1", Endpoint: "/chat", LimitKey: "user:a", Model: model,
		Req: &llm.Request{MaxTokens: 10, Messages: []llm.Message{{Role: llm.RoleUser, Content: "q"}}}}
}

func TestGatewayPipeline(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(g *Gateway, in *Input)
		wantKind llm.Kind // KindInternal = no error
		wantErr  error
		check    func(t *testing.T, g *Gateway, res *Result, calls []track.Call)
	}{
		{name: "answer is priced, recorded and settled", check: func(t *testing.T, g *Gateway, res *Result, calls []track.Call) {
			if res.Response.Text != "hi" || !res.CostKnown || res.CostUSD != 0.005 || len(calls) != 1 || !calls[0].Success || calls[0].PriceVersion != "test-1" {
				t.Errorf("res %+v calls %+v", res, calls)
			}
			if got := g.Limiter.(*fixedLimiter).reconciled; len(got) != 2 || got[1] != 5 {
				t.Errorf("reconciled %v, want actual 5", got)
			}
			if got := g.Budget.(*fixedBudget).committed; len(got) != 1 || got[0] != 0.005 {
				t.Errorf("committed %v", got)
			}
		}},
		{name: "unknown route is refused and recorded", setup: func(g *Gateway, in *Input) { in.Model = "missing" }, wantErr: ErrNoRoute,
			check: func(t *testing.T, g *Gateway, res *Result, calls []track.Call) {
				if len(calls) != 1 || calls[0].Success {
					t.Errorf("calls %+v", calls)
				}
			}},
		{name: "rate limited before any upstream call", setup: func(g *Gateway, in *Input) {
			g.Limiter = &fixedLimiter{adm: Admission{Which: "tokens", RetryAfter: 3 * time.Second, Headers: map[string]string{"X-Ratelimit-Remaining-Tokens": "0"}}}
		}, wantKind: llm.KindRateLimited, check: func(t *testing.T, g *Gateway, res *Result, calls []track.Call) {
			if res.Admission.Headers["X-Ratelimit-Remaining-Tokens"] != "0" || len(calls) != 1 || calls[0].ErrorKind != "rate_limited" {
				t.Errorf("res %+v calls %+v", res, calls)
			}
		}},
		{name: "budget refusal releases the rate-limit reservation", setup: func(g *Gateway, in *Input) {
			g.Budget = &fixedBudget{err: llm.Errorf(llm.KindRateLimited, "", "daily budget of user a spent")}
		}, wantKind: llm.KindRateLimited, check: func(t *testing.T, g *Gateway, res *Result, calls []track.Call) {
			if got := g.Limiter.(*fixedLimiter).reconciled; len(got) != 2 || got[1] != 0 {
				t.Errorf("reconciled %v, want the reservation returned", got)
			}
		}},
		{name: "authorize refuses the route", setup: func(g *Gateway, in *Input) {
			g.Authorize = func(context.Context, Route) error { return llm.Errorf(llm.KindForbidden, "", "model not allowed") }
		}, wantKind: llm.KindForbidden},
		{name: "second identical request is a cache hit at no cost", setup: func(g *Gateway, in *Input) {
			g.Cache, g.CacheKey = &mapCache{m: map[string]*llm.Response{}}, func(r string, req *llm.Request) string { return r + req.Messages[0].Content }
			g.CacheSampled = true
			if _, err := run(t, g, input("")); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, g *Gateway, res *Result, calls []track.Call) {
			if !res.Cached || res.CostUSD != 0 || res.Response.Usage.Total() != 0 || res.Response.Text != "hi" || len(calls) != 2 || !calls[1].Cached {
				t.Errorf("res %+v calls %+v", res, calls)
			}
		}},
		{name: "the record lists every upstream attempt", setup: func(g *Gateway, in *Input) {
			g.Routes = oneRoute{triedTwice{g.Routes.(oneRoute).p}}
		}, check: func(t *testing.T, g *Gateway, res *Result, calls []track.Call) {
			if len(calls) != 1 || len(calls[0].Tries) != 2 || calls[0].Tries[0].Provider != "openai" || calls[0].Tries[0].ErrorKind != "unavailable" ||
				calls[0].Tries[0].ErrorMessage == "" || calls[0].Tries[1].ErrorKind != "" {
				t.Errorf("calls %+v", calls)
			}
		}},
		{name: "no-store keeps the answer out of the cache", setup: func(g *Gateway, in *Input) {
			g.Cache, g.CacheKey = &mapCache{m: map[string]*llm.Response{}}, func(r string, req *llm.Request) string { return r }
			in.NoStore = true
		}, check: func(t *testing.T, g *Gateway, res *Result, calls []track.Call) {
			if len(g.Cache.(*mapCache).m) != 0 {
				t.Error("no-store answer was stored")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fakeprovider.New("google")
			p.SetDefault(answer()...)
			var mu sync.Mutex
			var calls []track.Call
			g := &Gateway{Routes: oneRoute{p}, Pricer: flatPrice{}, Limiter: &fixedLimiter{adm: Admission{Allowed: true}},
				Budget: &fixedBudget{}, CacheTTL: time.Minute,
				Sink: track.SinkFunc(func(_ context.Context, c track.Call) error {
					mu.Lock()
					calls = append(calls, c)
					mu.Unlock()
					return nil
				})}
			in := input("")
			if tt.setup != nil {
				tt.setup(g, in)
			}
			res, err := run(t, g, in)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.wantKind != llm.KindInternal:
				if llm.KindOf(err) != tt.wantKind {
					t.Fatalf("err = %v (%v), want %v", err, llm.KindOf(err), tt.wantKind)
				}
			case err != nil:
				t.Fatal(err)
			}
			if tt.check != nil {
				mu.Lock()
				defer mu.Unlock()
				tt.check(t, g, res, calls)
			}
		})
	}
}

// TestCacheable: only deterministic requests use the cache by default; a
// sampling request opts in per request or by configuration (issue 13).
func TestCacheable(t *testing.T) {
	zero, warm := 0.0, 0.9
	tests := []struct {
		name        string
		temp        *float64
		perRequest  bool
		everything  bool
		wantCaching bool
	}{
		{"temperature 0", &zero, false, false, true},
		{"temperature 0.9 (the seed's poem)", &warm, false, false, false},
		{"temperature unset: the provider samples", nil, false, false, false},
		{"sampling, opted in by the request", &warm, true, false, true},
		{"sampling, CACHE_SAMPLED", nil, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Gateway{CacheSampled: tt.everything}
			in := input("")
			in.Req.Temperature, in.CacheSampled = tt.temp, tt.perRequest
			if got := g.Cacheable(in); got != tt.wantCaching {
				t.Errorf("Cacheable = %v, want %v", got, tt.wantCaching)
			}
		})
	}
	// A sampling request neither reads nor fills the cache.
	p := fakeprovider.New("google")
	p.SetDefault(answer()...)
	mc := &mapCache{m: map[string]*llm.Response{}}
	g := &Gateway{Routes: oneRoute{p}, Cache: mc, CacheKey: func(r string, _ *llm.Request) string { return r }}
	in := input("")
	in.Req.Temperature = &warm
	for range 2 {
		if res, err := run(t, g, in); err != nil || res.Cached {
			t.Fatalf("res %+v err %v", res, err)
		}
	}
	if len(mc.m) != 0 || p.NumCalls() != 2 {
		t.Errorf("stored %d, upstream calls %d; want 0 and 2", len(mc.m), p.NumCalls())
	}
}

// TestCollectHint: a non-stream caller's request reaches the provider
// with Collect set (one non-stream upstream call), a stream's without.
func TestCollectHint(t *testing.T) {
	for _, stream := range []bool{false, true} {
		p := fakeprovider.New("google")
		p.SetDefault(answer()...)
		g := &Gateway{Routes: oneRoute{p}}
		in := input("")
		in.Stream = stream
		if _, err := run(t, g, in); err != nil {
			t.Fatal(err)
		}
		if c := p.Calls(); len(c) != 1 || c[0].Request.Collect == stream {
			t.Errorf("stream %v: calls %+v, want one with Collect %v", stream, c, !stream)
		}
	}
}
