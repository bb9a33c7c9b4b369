package openai

import (
	"net/http"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

// TestCollectMatchesStream: a collected request is one "stream": false
// call, and its chat.completion maps to the same llm.Response (text, tool
// calls, finish reason, usage with cached and reasoning tokens, model,
// classified errors) as the stream of the same answer.
func TestCollectMatchesStream(t *testing.T) {
	usage := &fakeopenai.Usage{PromptTokens: 12, CompletionTokens: 40, CachedTokens: 4, ReasoningTokens: 30}
	tests := []struct {
		name  string
		reply fakeopenai.Reply
		want  llm.Response
		kind  llm.Kind // of the error, when the reply is one
	}{{
		name:  "text with cached and reasoning tokens",
		reply: fakeopenai.Reply{Text: []string{"Hel", "lo", ", world"}, Model: "gpt-4o-mini-2024-07-18", Usage: usage},
		want: llm.Response{Text: "Hello, world", FinishReason: llm.FinishStop, Model: "gpt-4o-mini-2024-07-18", Provider: "openai",
			Usage: llm.Usage{InputTokens: 12, OutputTokens: 40, CachedInputTokens: 4, ThinkingTokens: 30, TotalTokens: 52}},
	}, {
		name: "two tool calls",
		reply: fakeopenai.Reply{ToolCalls: []fakeopenai.ToolCall{
			{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris","unit":"celsius"}`},
			{ID: "call_b", Name: "now", Arguments: `{}`}}, Usage: usage},
		want: llm.Response{FinishReason: llm.FinishToolCalls, Model: "gpt-4o-mini", Provider: "openai",
			ToolCalls: []llm.ToolCall{{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris","unit":"celsius"}`}, {ID: "call_b", Name: "now", Arguments: `{}`}},
			Usage:     llm.Usage{InputTokens: 12, OutputTokens: 40, CachedInputTokens: 4, ThinkingTokens: 30, TotalTokens: 52}},
	}, {
		name:  "cut by max tokens",
		reply: fakeopenai.Reply{Text: []string{"Once upon"}, Finish: "length"},
		want: llm.Response{Text: "Once upon", FinishReason: llm.FinishLength, Model: "gpt-4o-mini", Provider: "openai",
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 1, TotalTokens: 11}},
	}, {
		name:  "content filter",
		reply: fakeopenai.Reply{Text: []string{"I can"}, Finish: "content_filter"},
		want: llm.Response{Text: "I can", FinishReason: llm.FinishContentFilter, Model: "gpt-4o-mini", Provider: "openai",
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 1, TotalTokens: 11}},
	}, {
		name: "rate limited before any content",
		reply: fakeopenai.Reply{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"2"}},
			Error: fakeopenai.APIError{Type: "requests", Code: "rate_limit_exceeded", Message: "Rate limit reached. Please try again in 2s."}},
		kind: llm.KindRateLimited,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newFake(t, Config{})
			f.Enqueue(tt.reply)
			f.Enqueue(tt.reply)
			streamed, collected := llmtest.BothWays(c, llmtest.ConformanceRequest("gpt-4o-mini"))
			llmtest.SameBothWays(t, streamed, collected, tt.kind, tt.want)
			reqs := f.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			for i, want := range []bool{true, false} {
				var body struct {
					Stream        bool            `json:"stream"`
					StreamOptions *map[string]any `json:"stream_options"`
				}
				if err := reqs[i].Decode(&body); err != nil {
					t.Fatal(err)
				}
				if body.Stream != want || (body.StreamOptions != nil) != want {
					t.Errorf("request %d: stream %v stream_options %v, want stream %v", i, body.Stream, body.StreamOptions, want)
				}
			}
			if a := reqs[1].Header.Get("Accept"); a != "application/json" {
				t.Errorf("collected request Accept = %q", a)
			}
		})
	}
}
