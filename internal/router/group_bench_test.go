package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/ratelimit/redistest"
)

func benchDeployments() []*Deployment {
	out := make([]*Deployment, 3)
	for i := range out {
		out[i] = &Deployment{Name: fmt.Sprintf("bench#%d", i+1), Weight: 1, RPM: 1000, MaxInFlight: 100}
	}
	return out
}

// BenchmarkGroupPick is one routing decision over three deployments, and
// its release: in memory, and on a real Redis (one script for the pick,
// one for the release: two round trips).
func BenchmarkGroupPick(b *testing.B) {
	states := map[string]State{"memory": NewMemoryState()}
	if rdb, prefix := redistest.Client(b); rdb != nil {
		states["redis"] = NewRedisState(rdb, prefix)
	}
	for _, name := range []string{"memory", "redis"} {
		st, ok := states[name]
		if !ok {
			continue
		}
		for _, s := range []Strategy{Weighted, LeastBusy, LowestLatency, Usage} {
			b.Run(name+"/"+string(s), func(b *testing.B) {
				deps := benchDeployments()
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					p := st.Pick(ctx, time.Time{}, s, 0.1, deps, rand.Float64())
					if p.Index < 0 {
						b.Fatalf("no pick: %+v", p)
					}
					st.Done(ctx, deps[p.Index], p.Lease, time.Millisecond)
				}
			})
		}
	}
}

// BenchmarkRouterGroup is BenchmarkRouterSuccess over a group of three
// deployments (weighted, in memory): the router's cost per request with
// a deployment group on the route.
func BenchmarkRouterGroup(b *testing.B) {
	g := &Group{Strategy: Weighted}
	for i := range 3 {
		g.Deployments = append(g.Deployments, Deployment{Name: fmt.Sprintf("bench#%d", i+1), P: &threeChunks{}, Weight: 1})
	}
	r := New([]Target{{Name: "pool/m", Provider: "fake", Model: "m", P: g.Deployments[0].P, Retries: -1, Group: g}}, DefaultPolicy(), nil)
	req := testRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range r.Stream(llm.WithTrace(ctx, &llm.Trace{}), req) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 3 {
			b.Fatalf("got %d chunks", n)
		}
	}
}
