package openai

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// TestEmbed: /embeddings against the fake: float vectors in order,
// dimensions sent, usage read, errors classified.
func TestEmbed(t *testing.T) {
	c, f := newFake(t, Config{})
	resp, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"a b", "c"}, Dimensions: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vectors) != 2 || fmt.Sprint(resp.Vectors[1]) != fmt.Sprint(llmtest.Vector("c", 8)) || resp.Usage.InputTokens != 3 ||
		resp.Model != "text-embedding-3-small" || resp.Provider != "openai" {
		t.Fatalf("%+v", resp)
	}
	if body := string(f.LastRequest().Body); !strings.Contains(body, `"dimensions":8`) || !strings.Contains(body, `"encoding_format":"float"`) {
		t.Errorf("sent %s", body)
	}
	for _, tc := range []struct {
		req  llm.EmbedRequest
		kind llm.Kind
	}{
		{llm.EmbedRequest{Model: "gpt-4o-mini", Inputs: []string{"x"}}, llm.KindNotFound},
		{llm.EmbedRequest{Model: "text-embedding-ada-002", Inputs: []string{"x"}, Dimensions: 8}, llm.KindInvalid},
		{llm.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{""}}, llm.KindInvalid},
	} {
		if _, err := c.Embed(context.Background(), &tc.req); llm.KindOf(err) != tc.kind {
			t.Errorf("%+v: %v", tc.req, err)
		}
	}
	f.Enqueue(fakeopenai.Reply{Status: 429, Error: fakeopenai.APIError{Type: "rate_limit_error", Message: "slow down"}})
	if _, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"x"}}); llm.KindOf(err) != llm.KindRateLimited {
		t.Errorf("429: %v", err)
	}
}
