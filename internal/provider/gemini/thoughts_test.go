package gemini_test

import (
	"context"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// TestThoughtSummaries: thought summaries are asked for (includeThoughts)
// only when the request asks to think, and come back as Thinking, never
// as answer text, streamed or collected.
func TestThoughtSummaries(t *testing.T) {
	budget := 1024
	for _, tc := range []struct {
		name     string
		budget   *int
		collect  bool
		thinking string
	}{
		{"asked, streamed", &budget, false, "**Plan** greet"},
		{"asked, collected", &budget, true, "**Plan** greet"},
		{"configured budget only: not shown", nil, false, ""},
	} {
		c, srv := newTest(t)
		srv.Enqueue(fakegemini.Reply{Thoughts: []string{"**Plan** ", "greet"}, Deltas: []string{"Hi"},
			Usage: fakegemini.Usage{PromptTokenCount: 4, CandidatesTokenCount: 1, ThoughtsTokenCount: 9}})
		req := hello("gemini-2.5-flash")
		req.ThinkingBudget, req.Collect = tc.budget, tc.collect
		var chunks []llm.Chunk
		r, err := llm.Collect(func(yield func(llm.Chunk, error) bool) {
			for ch, err := range c.Stream(context.Background(), req) {
				chunks = append(chunks, ch)
				if !yield(ch, err) {
					return
				}
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Text != "Hi" || r.Thinking != tc.thinking || r.Usage.ThinkingTokens != 9 {
			t.Errorf("%s: response %+v", tc.name, r)
		}
		asked := srv.Last(t).Body.GenerationConfig.ThinkingConfig.IncludeThoughts
		if asked != (tc.budget != nil) || (tc.thinking != "" && !tc.collect && chunks[0].Thinking != "**Plan** ") {
			t.Errorf("%s: includeThoughts %v, first chunk %+v", tc.name, asked, chunks[0])
		}
	}
}
