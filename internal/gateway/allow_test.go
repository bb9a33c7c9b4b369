package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
	"github.com/llm-connector/llm-connector/internal/track"
)

// TestCacheHitHoldsTheAllowList is issue 18 item 4 at the cache: an answer
// cached from a target the caller's key does not allow (another caller's
// fallback) is not served to it; the call goes upstream instead.
func TestCacheHitHoldsTheAllowList(t *testing.T) {
	p := fakeprovider.New("google")
	p.SetDefault(answer()...)
	c := &mapCache{m: map[string]*llm.Response{"default": {Text: "from ollama", Provider: "ollama", Model: "tiny"}}}
	g := &Gateway{Routes: oneRoute{p}, Cache: c, CacheKey: func(r string, _ *llm.Request) string { return r },
		Sink: track.SinkFunc(func(context.Context, track.Call) error { return nil })}
	ctx := llm.WithTargetFilter(context.Background(), func(_, target string) bool { return strings.HasPrefix(target, "google/") })
	res, seq, err := g.Chat(ctx, input(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
	}
	if res.Cached || res.Response.Text != "hi" || p.NumCalls() != 1 {
		t.Errorf("cached %v, text %q, upstream calls %d; want the upstream answer", res.Cached, res.Response.Text, p.NumCalls())
	}
}
