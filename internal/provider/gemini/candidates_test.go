package gemini_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
)

// TestCandidates: candidateCount 2 yields each candidate's text with its
// index and its own finish reason, streamed and collected; the usage is
// the request's.
func TestCandidates(t *testing.T) {
	for _, collect := range []bool{false, true} {
		c, srv := newTest(t)
		srv.Enqueue(fakegemini.Reply{Deltas: []string{"one ", "two"}, Alternatives: [][]string{{"uno ", "dos"}},
			Usage: fakegemini.Usage{PromptTokenCount: 4, CandidatesTokenCount: 8}})
		req := hello("gemini-2.5-flash")
		req.Candidates, req.Collect = 2, collect
		resp, err := llm.Collect(c.Stream(context.Background(), req))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "one two" || resp.FinishReason != llm.FinishStop {
			t.Errorf("collect=%v: candidate 0 = %q %q", collect, resp.Text, resp.FinishReason)
		}
		if diff := cmp.Diff([]llm.Choice{{Text: "uno dos", FinishReason: llm.FinishStop}}, resp.Others); diff != "" {
			t.Errorf("collect=%v: others (-want +got):\n%s", collect, diff)
		}
		if resp.Usage.OutputTokens != 8 || resp.Usage.InputTokens != 4 {
			t.Errorf("collect=%v: usage %+v", collect, resp.Usage)
		}
		if g := srv.Last(t).Body.GenerationConfig; g == nil || g.CandidateCount != 2 {
			t.Errorf("candidateCount not sent: %+v", g)
		}
	}
}
