package router

import (
	"context"
	"iter"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// threeChunks is the cheapest possible provider: two deltas and a final
// chunk with usage, so that the benchmark measures the router.
type threeChunks struct{ usage llm.Usage }

func (p *threeChunks) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		_ = yield(llm.Chunk{Delta: "Hello"}, nil) &&
			yield(llm.Chunk{Delta: ", world"}, nil) &&
			yield(llm.Chunk{FinishReason: llm.FinishStop, Usage: &p.usage}, nil)
	}
}

// BenchmarkRouterSuccess is the router's overhead on the happy path: one
// target, default policy (deadline, first-token and idle watchdog on), a
// trace in the context, real clock.
func BenchmarkRouterSuccess(b *testing.B) {
	r := New([]Target{{Name: "fake/m", Provider: "fake", Model: "m", P: &threeChunks{}, Retries: -1}}, DefaultPolicy(), nil)
	req := testRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tr := &llm.Trace{}
		n := 0
		for _, err := range r.Stream(llm.WithTrace(ctx, tr), req) {
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
