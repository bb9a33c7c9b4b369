package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

// TestGeminiCandidates: candidateCount 2 reaches the backend as
// Request.Candidates; generateContent answers candidates[] with their
// index, text and finishReason; the stream's events each name their
// candidate's index and the last carries every finishReason.
func TestGeminiCandidates(t *testing.T) {
	h := newHarness(t)
	url := geminiServer(t, h, nil)
	script := func() []fakeprovider.Step {
		return []fakeprovider.Step{
			fakeprovider.Text("red"), fakeprovider.Chunk(llm.Chunk{Candidate: 1, Delta: "blue"}),
			fakeprovider.Chunk(llm.Chunk{Candidate: 1, FinishReason: llm.FinishLength}),
			fakeprovider.Chunk(llm.Chunk{FinishReason: llm.FinishStop, Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2}}),
		}
	}
	body := `{"contents":[{"parts":[{"text":"name a colour"}]}],"generationConfig":{"candidateCount":2}}`
	tests := []struct{ name, path string }{
		{"generateContent", ":generateContent"},
		{"stream", ":streamGenerateContent?alt=sse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.primary.Push(script())
			resp, b := postTo(t, url+"/v1beta/models/default"+tt.path, body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			<-h.calls
			calls := h.primary.Calls()
			if n := calls[len(calls)-1].Request.Candidates; n != 2 {
				t.Errorf("Request.Candidates = %d, want 2", n)
			}
			text, finish := map[int]string{}, map[int]string{}
			var events []gmResponse
			if strings.HasPrefix(tt.path, ":stream") {
				for _, ev := range strings.Split(strings.TrimSpace(string(b)), "\r\n\r\n") {
					var r gmResponse
					if err := json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &r); err != nil {
						t.Fatalf("event %q: %v", ev, err)
					}
					events = append(events, r)
				}
			} else {
				var r gmResponse
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatal(err)
				}
				events = []gmResponse{r}
			}
			for _, r := range events {
				for _, c := range r.Candidates {
					if c.Content != nil {
						for _, p := range c.Content.Parts {
							text[c.Index] += p.Text
						}
					}
					if c.FinishReason != "" {
						finish[c.Index] = c.FinishReason
					}
				}
			}
			if text[0] != "red" || text[1] != "blue" || finish[0] != "STOP" || finish[1] != "MAX_TOKENS" || len(text) != 2 {
				t.Errorf("candidates: text %v, finish %v\n%s", text, finish, b)
			}
			if last := events[len(events)-1]; last.UsageMetadata == nil || last.UsageMetadata.TotalTokenCount != 5 {
				t.Errorf("last event lacks the usage: %s", b)
			}
		})
	}
}
