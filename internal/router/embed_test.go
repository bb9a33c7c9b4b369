package router

import (
	"context"
	"iter"
	"strings"
	"sync"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// fakeEmbedder answers Embed with the next scripted step: an error, or
// vectors of dim values (the request's Dimensions when dim is 0).
type fakeEmbedder struct {
	mu    sync.Mutex
	steps []embedStep
	calls []llm.EmbedRequest
}

type embedStep struct {
	dim int
	err error
}

func (f *fakeEmbedder) Stream(context.Context, *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(func(llm.Chunk, error) bool) {}
}

func (f *fakeEmbedder) Embed(_ context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, *req)
	st := embedStep{dim: req.Dimensions}
	if len(f.steps) > 0 {
		st, f.steps = f.steps[0], f.steps[1:]
	}
	if st.err != nil {
		return nil, st.err
	}
	n := st.dim
	if n == 0 {
		n = req.Dimensions
	}
	out := &llm.EmbedResponse{Usage: llm.Usage{InputTokens: len(req.Inputs)}}
	for range req.Inputs {
		out.Vectors = append(out.Vectors, make([]float32, n))
	}
	return out, nil
}

// chatOnly is a provider without embeddings.
type chatOnly struct{}

func (chatOnly) Stream(context.Context, *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(func(llm.Chunk, error) bool) {}
}

// TestRouterEmbed: Embed follows Stream's policy (retry what may pass,
// give up on an invalid request, skip a target without embeddings) and
// falls back only at the route's dimension.
func TestRouterEmbed(t *testing.T) {
	for _, tc := range []struct {
		name            string
		warm            bool // the primary answered once before (its dimension, 3, is known)
		dims            int
		primary, second []embedStep
		chatPrimary     bool
		wantProvider    string
		wantErr         string
		wantCalls       [2]int
		wantSecondDims  int
	}{
		{name: "primary", primary: []embedStep{{dim: 3}}, wantProvider: "google", wantCalls: [2]int{1, 0}},
		{name: "retried then fallback at the asked dimension", dims: 8,
			primary:      []embedStep{{err: unavailable("google")}, {err: unavailable("google")}, {err: unavailable("google")}, {err: unavailable("google")}},
			wantProvider: "ollama", wantCalls: [2]int{4, 1}, wantSecondDims: 8},
		{name: "invalid is not retried nor sent elsewhere", primary: []embedStep{{err: llm.Errorf(llm.KindInvalid, "google", "bad input")}},
			wantErr: "bad input", wantCalls: [2]int{1, 0}},
		{name: "fallback of unknown dimension is not used", primary: []embedStep{{err: llm.Errorf(llm.KindNotFound, "google", "gone")}},
			wantErr: "dimension is not known yet", wantCalls: [2]int{1, 0}},
		{name: "fallback asked for the primary's dimension", warm: true,
			primary:      []embedStep{{dim: 3}, {err: llm.Errorf(llm.KindNotFound, "google", "gone")}},
			wantProvider: "ollama", wantCalls: [2]int{2, 1}, wantSecondDims: 3},
		{name: "fallback of another dimension is refused", warm: true,
			primary: []embedStep{{dim: 3}, {err: llm.Errorf(llm.KindNotFound, "google", "gone")}}, second: []embedStep{{dim: 5}},
			wantErr: "5-dimension vectors where the route's are 3", wantCalls: [2]int{2, 1}, wantSecondDims: 3},
		{name: "a target without embeddings is skipped", chatPrimary: true, dims: 4,
			wantProvider: "ollama", wantCalls: [2]int{0, 1}, wantSecondDims: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := &fakeEmbedder{steps: tc.primary}, &fakeEmbedder{steps: tc.second}
			first := gemini(p)
			if tc.chatPrimary {
				first = gemini(chatOnly{})
			}
			r, _ := newTestRouter(t, testPolicy(), nil, first, ollama(s))
			ctx := context.Background()
			if tc.warm {
				if _, err := r.Embed(ctx, &llm.EmbedRequest{Inputs: []string{"warm"}}); err != nil {
					t.Fatal(err)
				}
			}
			trace := &llm.Trace{}
			resp, err := r.Embed(llm.WithTrace(ctx, trace), &llm.EmbedRequest{Model: "alias", Inputs: []string{"a", "b"}, Dimensions: tc.dims})
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(llm.PublicMessage(err), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case resp.Provider != tc.wantProvider || len(resp.Vectors) != 2:
				t.Fatalf("answered by %q with %d vectors", resp.Provider, len(resp.Vectors))
			}
			if got := [2]int{len(p.calls), len(s.calls)}; got != tc.wantCalls {
				t.Errorf("calls = %v, want %v", got, tc.wantCalls)
			}
			if len(s.calls) > 0 && (s.calls[0].Dimensions != tc.wantSecondDims || s.calls[0].Model != "llama") {
				t.Errorf("fallback asked %+v", s.calls[0])
			}
			if n := len(trace.Attempts()); n != len(p.calls)+len(s.calls)-boolInt(tc.warm) && !tc.chatPrimary {
				t.Errorf("trace has %d attempts for %v calls", n, [2]int{len(p.calls), len(s.calls)})
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRouterEmbedBreaker: failed embeddings open the primary's breaker
// like failed streams, and the next request goes to the fallback at once.
func TestRouterEmbedBreaker(t *testing.T) {
	p, s := &fakeEmbedder{}, &fakeEmbedder{}
	for range 2 {
		p.steps = append(p.steps, embedStep{err: unavailable("google")})
	}
	pol := testPolicy()
	pol.Retries = 0
	r, _ := newTestRouter(t, pol, NewBreakers(BreakerConfig{Failures: 2}), gemini(p), ollama(s))
	for range 2 {
		if _, err := r.Embed(context.Background(), &llm.EmbedRequest{Inputs: []string{"x"}, Dimensions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Embed(context.Background(), &llm.EmbedRequest{Inputs: []string{"x"}, Dimensions: 2}); err != nil {
		t.Fatal(err)
	}
	if len(p.calls) != 2 || len(s.calls) != 3 || r.Breakers().Health()[0].State != StateOpen {
		t.Errorf("calls %d/%d, health %+v", len(p.calls), len(s.calls), r.Breakers().Health())
	}
}
