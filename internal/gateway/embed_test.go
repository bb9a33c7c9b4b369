package gateway

import (
	"context"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
)

// embedder answers every call with vectors of 3 values and records an
// attempt, as the router does.
type embedder struct {
	calls int
	err   error
}

func (e *embedder) Stream(context.Context, *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(func(llm.Chunk, error) bool) {}
}

func (e *embedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	e.calls++
	llm.TraceFrom(ctx).Add(llm.Attempt{Provider: "google", Model: "gemini", Start: time.Now(), Duration: time.Millisecond, Err: e.err})
	if e.err != nil {
		return nil, e.err
	}
	out := &llm.EmbedResponse{Provider: "google", Model: "gemini", Usage: llm.Usage{InputTokens: 7}}
	for i := range req.Inputs {
		out.Vectors = append(out.Vectors, []float32{float32(i), 0.5, -1})
	}
	return out, nil
}

// TestEmbedPipeline: an embeddings call is admitted, priced, settled
// and recorded like a chat call (endpoint, prompt, tokens, cost; no
// vector in the record), served from the cache the second time, and a
// failure is recorded too.
func TestEmbedPipeline(t *testing.T) {
	emb := &embedder{}
	var mu sync.Mutex
	var calls []track.Call
	lim, bud := &fixedLimiter{adm: Admission{Allowed: true}}, &fixedBudget{}
	g := &Gateway{Routes: oneRoute{emb}, Pricer: flatPrice{}, Limiter: lim, Budget: bud,
		Cache: &mapCache{m: map[string]*llm.Response{}}, CacheTTL: time.Minute,
		Sink: track.SinkFunc(func(_ context.Context, c track.Call) error {
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
			return nil
		})}
	in := func() *EmbedInput {
		return &EmbedInput{RequestID: "r1", Endpoint: "/v1/embeddings", Who: Identity{User: "u"}, LimitKey: "user:u",
			Model: "default", Req: &llm.EmbedRequest{Inputs: []string{"alpha", "beta"}, Dimensions: 3}}
	}
	res, err := g.Embed(context.Background(), in())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Response.Vectors) != 2 || res.Response.Vectors[1][0] != 1 || !res.CostKnown || res.CostUSD != 0.007 || res.Cached {
		t.Fatalf("first: %+v", res)
	}
	hit, err := g.Embed(context.Background(), in())
	if err != nil || !hit.Cached || emb.calls != 1 || hit.CostUSD != 0 || hit.Response.Vectors[1][2] != -1 {
		t.Fatalf("second: %+v %v (calls %d)", hit, err, emb.calls)
	}
	other := in()
	other.Req.Dimensions = 2
	if _, err := g.Embed(context.Background(), other); err != nil || emb.calls != 2 {
		t.Fatalf("other dimensions must miss the cache: %v, calls %d", err, emb.calls)
	}
	emb.err = llm.Errorf(llm.KindUnavailable, "google", "503 overloaded")
	fresh := in()
	fresh.Req.Inputs = []string{"gamma"}
	if _, err := g.Embed(context.Background(), fresh); llm.KindOf(err) != llm.KindUnavailable {
		t.Fatalf("failure: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 4 {
		t.Fatalf("%d records, want 4", len(calls))
	}
	c := calls[0]
	if c.Endpoint != "/v1/embeddings" || c.Prompt != "alpha\nbeta" || c.Response != "" || c.Usage.InputTokens != 7 ||
		c.CostUSD != 0.007 || !c.Success || c.Attempts != 1 || c.Provider != "google" {
		t.Errorf("record = %+v", c)
	}
	if !calls[1].Cached || calls[1].CostUSD != 0 || calls[3].Success || calls[3].ErrorKind != "unavailable" {
		t.Errorf("hit %+v, failure %+v", calls[1], calls[3])
	}
	if len(bud.committed) != 4 || bud.committed[0] != 0.007 || len(lim.reconciled) != 8 || lim.reconciled[0] != llm.EstimateEmbedTokens([]string{"alpha", "beta"}) || lim.reconciled[1] != 7 {
		t.Errorf("budget commits %v, limiter reconciles %v", bud.committed, lim.reconciled)
	}
	for _, c := range calls {
		if strings.Contains(c.Response, "v1:") {
			t.Errorf("a packed vector reached the record: %q", c.Response)
		}
	}
}

// TestPackVectors: the cache entry round-trips the vectors and refuses
// ragged or oversized ones.
func TestPackVectors(t *testing.T) {
	in := [][]float32{{1, -2.5, 3e-8}, {0, 4, 5}}
	text, ok := packVectors(in)
	out, err := unpackVectors(text)
	if !ok || err != nil || len(out) != 2 || out[0][1] != -2.5 || out[0][2] != 3e-8 || out[1][2] != 5 {
		t.Fatalf("%v %v %v", ok, err, out)
	}
	if _, ok := packVectors([][]float32{{1}, {1, 2}}); ok {
		t.Error("ragged vectors packed")
	}
	if _, ok := packVectors([][]float32{make([]float32, maxCachedEmbed/4)}); ok {
		t.Error("oversized vectors packed")
	}
	for _, bad := range []string{"", "v1:zz", "v1:0100000001000000", "hello"} {
		if _, err := unpackVectors(bad); err == nil {
			t.Errorf("unpacked %q", bad)
		}
	}
}
