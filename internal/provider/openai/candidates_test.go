package openai

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// TestCandidates: n=2 yields choice 1 as Candidate 1 with its own
// finish reason, streamed and collected.
func TestCandidates(t *testing.T) {
	for _, collect := range []bool{false, true} {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeopenai.Reply{Text: []string{"Hi ", "there"}})
		req := &llm.Request{Model: "gpt-4o-mini", MaxTokens: 10, Candidates: 2, Collect: collect, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
		resp, err := llm.Collect(c.Stream(context.Background(), req))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "Hi there" || resp.FinishReason != llm.FinishStop {
			t.Errorf("collect=%v: choice 0 = %q %q", collect, resp.Text, resp.FinishReason)
		}
		if diff := cmp.Diff([]llm.Choice{{Text: "Hi there", FinishReason: llm.FinishStop}}, resp.Others); diff != "" {
			t.Errorf("collect=%v: others (-want +got):\n%s", collect, diff)
		}
	}
}
