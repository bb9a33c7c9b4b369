package ratelimit

import (
	"context"
	"errors"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// fakeEmbedder is a provider that also serves embeddings.
type fakeEmbedder struct{ fakeProvider }

func (f *fakeEmbedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	f.calls.Add(1)
	out := &llm.EmbedResponse{Usage: llm.Usage{InputTokens: len(req.Inputs)}}
	for range req.Inputs {
		out.Vectors = append(out.Vectors, []float32{1, 0})
	}
	return out, nil
}

// TestOutboundEmbed: the rate-limit wrapper keeps a provider's
// embeddings reachable and charges them to the same budget as chats; a
// wrapped provider without embeddings is a KindNotFound naming it.
func TestOutboundEmbed(t *testing.T) {
	fe := &fakeEmbedder{}
	o, _, _ := newOutbound(t, fe, OutboundConfig{Name: "gemini", Limits: Limits{RPM: 2}, Mode: FailFast})
	var p llm.Provider = o
	emb, ok := p.(llm.Embedder)
	if !ok {
		t.Fatal("the wrapper hides Embed")
	}
	in := &llm.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}}
	if r, err := emb.Embed(t.Context(), in); err != nil || len(r.Vectors) != 2 {
		t.Fatalf("first embed: %+v %v", r, err)
	}
	if _, err := llm.Collect(o.Stream(t.Context(), req)); err != nil {
		t.Fatalf("chat after an embed: %v", err)
	}
	_, err := emb.Embed(t.Context(), in)
	if llm.KindOf(err) != llm.KindRateLimited || fe.calls.Load() != 2 {
		t.Fatalf("third call of an RPM 2 budget: %v after %d upstream calls, want rate limited after 2", err, fe.calls.Load())
	}

	plain, _, _ := newOutbound(t, &fakeProvider{}, OutboundConfig{Name: "ollama", Limits: Limits{RPM: 2}})
	_, err = plain.Embed(t.Context(), in)
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindNotFound || le.Provider != "ollama" {
		t.Fatalf("embed through a chat-only provider: %v", err)
	}
}

// TestAsLooksThroughWrappers: optional interfaces stay reachable behind
// the wrapper (token counting is not charged: it has its own quota).
func TestAsLooksThroughWrappers(t *testing.T) {
	o, _, _ := newOutbound(t, &countingProvider{}, OutboundConfig{Name: "gemini", Limits: Limits{RPM: 1}})
	if _, ok := llm.As[llm.TokenCounter](o); !ok {
		t.Fatal("As did not find the wrapped TokenCounter")
	}
	if _, ok := llm.As[llm.TokenCounter](llm.Provider(&fakeProvider{})); ok {
		t.Fatal("As found a TokenCounter where there is none")
	}
}

type countingProvider struct{ fakeProvider }

func (c *countingProvider) CountTokens(context.Context, *llm.Request) (llm.TokenCount, error) {
	return llm.TokenCount{InputTokens: 3}, nil
}
