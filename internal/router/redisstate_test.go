package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	geminiapi "github.com/llm-connector/llm-connector/internal/provider/gemini"
	"github.com/llm-connector/llm-connector/internal/ratelimit"
	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
)

// instance is one gateway's router over a group of three fake-Gemini
// deployments of 10 RPM, its limiter and state in the shared Redis.
func instance(t *testing.T, prefix string, srvs []*fakegemini.Server, s Strategy) *Router {
	rdb := redistest.NewClient(t)
	lim := ratelimit.NewRedis(rdb, prefix+"rl:")
	g := &Group{Strategy: s, State: NewRedisState(rdb, prefix)}
	for i, srv := range srvs {
		name := fmt.Sprintf("gemini-free#%d", i+1)
		gc := geminiapi.New(geminiapi.Config{BaseURL: srv.URL, APIKey: srv.Key, HTTPClient: srv.Client()})
		g.Deployments = append(g.Deployments, Deployment{
			Name: name, Weight: 1, RPM: 10, UsageKey: prefix + "rl:" + ratelimit.OutboundKey(name, "", false),
			P: ratelimit.Outbound(gc, lim, ratelimit.OutboundConfig{Name: name, Limits: ratelimit.Limits{RPM: 10}, Mode: ratelimit.FailFast}),
		})
	}
	// No retries: a refused request is answered 429 at once instead of
	// waiting (up to the deadline) for the budget to refill.
	p := DefaultPolicy()
	p.Retries = 0
	r := New([]Target{{Name: "gemini-free/gemini-2.5-flash", Provider: "google", Model: "gemini-2.5-flash", P: g.Deployments[0].P, Retries: -1, Group: g}},
		p, nil)
	r.randN = rand.New(rand.NewPCG(uint64(len(prefix)), 9)).Int64N
	return r
}

// TestRedisTwoInstances: two routers (two gateway instances) share one
// Redis; behind one alias are three fake-Gemini deployments of 10 RPM.
// 60 requests in one minute window, alternating between the instances,
// give exactly 30 answers, 10 upstream calls per deployment (none over its
// limit), and 30 rate-limited refusals that never reached an upstream.
// The budget refills one request per 6 s per deployment; the test takes
// well under that.
func TestRedisTwoInstances(t *testing.T) {
	for _, s := range []Strategy{Usage, Weighted} {
		t.Run(string(s), func(t *testing.T) {
			prefix := redistest.Prefix(t)
			srvs := []*fakegemini.Server{fakegemini.New(t), fakegemini.New(t), fakegemini.New(t)}
			routers := []*Router{instance(t, prefix, srvs, s), instance(t, prefix+"", srvs, s)}
			ok, limited := 0, 0
			for n := range 60 {
				res := drain(context.Background(), routers[n%2])
				switch {
				case res.err == nil:
					ok++
				case llm.KindOf(res.err) == llm.KindRateLimited:
					limited++
				default:
					t.Fatalf("request %d: %v", n+1, res.err)
				}
			}
			if ok != 30 || limited != 30 {
				t.Fatalf("%d answered, %d rate limited; want 30 and 30", ok, limited)
			}
			for i, srv := range srvs {
				if n := len(srv.Requests()); n != 10 {
					t.Errorf("deployment %d: %d upstream calls, want exactly its 10 RPM", i+1, n)
				}
			}
		})
	}
}

// TestRedisSharedState: a cooldown and in-flight leases taken on one
// instance are seen by the other; a lease carries an expiry (LeaseTTL) so
// a crashed instance cannot hold a slot for ever.
func TestRedisSharedState(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	a, b := NewRedisState(rdb, prefix), NewRedisState(redistest.NewClient(t), prefix)
	a.LeaseTTL = 90 * time.Second
	ctx := context.Background()
	deps := []*Deployment{{Name: "d#1", MaxInFlight: 1}, {Name: "d#2", MaxInFlight: 1}}
	p1 := a.Pick(ctx, time.Time{}, LeastBusy, 0, deps, 0)
	p2 := b.Pick(ctx, time.Time{}, LeastBusy, 0, deps, 0)
	if p1.Index < 0 || p2.Index < 0 || p1.Index == p2.Index {
		t.Fatalf("picks %+v %+v: least_busy across instances must use both", p1, p2)
	}
	if p := b.Pick(ctx, time.Time{}, LeastBusy, 0, deps, 0); p.Index != -1 || !p.Capped {
		t.Fatalf("third pick %+v: want every deployment at its cap", p)
	}
	if ttl := rdb.PTTL(ctx, prefix+"dep:"+deps[p1.Index].Name+":inflight").Val(); ttl <= 0 || ttl > a.LeaseTTL {
		t.Fatalf("lease key ttl %s, want in (0, %s]", ttl, a.LeaseTTL)
	}
	a.Done(ctx, deps[p1.Index], p1.Lease, 120*time.Millisecond)
	b.Done(ctx, deps[p2.Index], p2.Lease, 0)
	a.Cool(ctx, time.Time{}, deps[0], time.Hour, "credentials refused")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := b.Pick(ctx, time.Time{}, Weighted, 0, deps, rand.Float64())
			if p.Index != 1 {
				t.Errorf("pick %+v while d#1 cools on the other instance", p)
			}
			b.Done(ctx, deps[max(p.Index, 0)], p.Lease, 0)
		}()
		wg.Wait()
	}
	cool := b.Cooling(ctx, []string{"d#1", "d#2"})
	if c, ok := cool["d#1"]; !ok || c.Reason != "credentials refused" || c.Left <= 59*time.Minute || len(cool) != 1 {
		t.Fatalf("cooling %+v", cool)
	}
	if a.Degraded() || b.Degraded() {
		t.Fatal("degraded with Redis up")
	}
}

// TestRedisStateFailsOpen: with Redis gone the state still picks, from
// its in-process copy, and says it is degraded.
func TestRedisStateFailsOpen(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := NewRedisState(rdb, "x:")
	srv.Stop()
	deps := []*Deployment{{Name: "d#1"}, {Name: "d#2"}}
	p := s.Pick(context.Background(), time.Now(), Weighted, 0, deps, 0.7)
	if p.Index != 1 || !s.Degraded() {
		t.Fatalf("pick %+v degraded %v", p, s.Degraded())
	}
	s.Done(context.Background(), deps[1], p.Lease, 0)
	if n := s.local.InFlight("d#2"); n != 0 {
		t.Fatalf("local lease not freed: %d in flight", n)
	}
}
