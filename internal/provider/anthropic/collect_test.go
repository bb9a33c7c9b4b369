package anthropic

import (
	"net/http"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
)

// TestCollectMatchesStream: a collected request is one "stream": false
// Messages call, and its message maps to the same llm.Response (text,
// tool_use blocks, stop reason, usage with cache reads and writes and
// thinking tokens) and the same errors as the stream of the same answer.
func TestCollectMatchesStream(t *testing.T) {
	u := &fakeanthropic.Usage{InputTokens: 20, OutputTokens: 50, CacheReadInputTokens: 5, CacheCreationInputTokens: 2, ThinkingTokens: 30}
	wantUsage := llm.Usage{InputTokens: 27, OutputTokens: 50, ThinkingTokens: 30, CachedInputTokens: 5, CacheWriteTokens: 2, TotalTokens: 77}
	tests := []struct {
		name  string
		reply fakeanthropic.Reply
		want  llm.Response
		kind  llm.Kind // of the error, when the reply is one
	}{{
		name:  "text with cache and thinking tokens",
		reply: fakeanthropic.Reply{Text: []string{"Hel", "lo", ", world"}, Model: "claude-sonnet-4-5-20250929", Usage: u},
		want:  llm.Response{Text: "Hello, world", FinishReason: llm.FinishStop, Model: "claude-sonnet-4-5-20250929", Provider: providerName, Usage: wantUsage},
	}, {
		name: "text then two tool calls",
		reply: fakeanthropic.Reply{Text: []string{"Let me check."}, Usage: u, ToolCalls: []fakeanthropic.ToolCall{
			{ID: "toolu_1", Name: "get_weather", Input: `{"city":"Paris","unit":"celsius"}`}, {ID: "toolu_2", Name: "now", Input: `{}`}}},
		want: llm.Response{Text: "Let me check.", FinishReason: llm.FinishToolCalls, Model: "claude-x", Provider: providerName, Usage: wantUsage,
			ToolCalls: []llm.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris","unit":"celsius"}`}, {ID: "toolu_2", Name: "now", Arguments: `{}`}}},
	}, {
		name:  "max tokens",
		reply: fakeanthropic.Reply{Text: []string{"Once upon"}, StopReason: "max_tokens"},
		want: llm.Response{Text: "Once upon", FinishReason: llm.FinishLength, Model: "claude-x", Provider: providerName,
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 1, TotalTokens: 11}},
	}, {
		name:  "refusal",
		reply: fakeanthropic.Reply{Text: []string{"I can't"}, StopReason: "refusal"},
		want: llm.Response{Text: "I can't", FinishReason: llm.FinishContentFilter, Model: "claude-x", Provider: providerName,
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 1, TotalTokens: 11}},
	}, {
		name:  "overloaded",
		reply: fakeanthropic.Reply{Status: 529, Error: fakeanthropic.APIError{Type: "overloaded_error", Message: "Overloaded"}, Header: http.Header{"Retry-After": {"3"}}},
		kind:  llm.KindUnavailable,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newFake(t, Config{})
			f.Enqueue(tt.reply)
			f.Enqueue(tt.reply)
			streamed, collected := llmtest.BothWays(c, llmtest.ConformanceRequest("claude-x"))
			llmtest.SameBothWays(t, streamed, collected, tt.kind, tt.want)
			reqs := f.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			for i, want := range []bool{true, false} {
				var body struct {
					Stream bool `json:"stream"`
				}
				if err := reqs[i].Decode(&body); err != nil {
					t.Fatal(err)
				}
				if body.Stream != want {
					t.Errorf("request %d: stream %v, want %v", i, body.Stream, want)
				}
			}
		})
	}
}
