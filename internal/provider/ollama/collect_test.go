package ollama

import (
	"net/http"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// TestCollectMatchesStream: a collected request is one "stream": false
// /api/chat call, and its one object maps to the same llm.Response
// (text, tool calls, done reason, eval counts) and the same errors as the
// NDJSON stream of the same answer.
func TestCollectMatchesStream(t *testing.T) {
	tests := []struct {
		name  string
		reply fakeollama.Reply
		want  llm.Response
		kind  llm.Kind // of the error, when the reply is one
	}{{
		name:  "text",
		reply: fakeollama.Reply{Deltas: []string{"Hel", "lo", ", world"}, PromptEvalCount: 11, EvalCount: 3},
		want: llm.Response{Text: "Hello, world", FinishReason: llm.FinishStop, Model: "tiny", Provider: providerName,
			Usage: llm.Usage{InputTokens: 11, OutputTokens: 3, TotalTokens: 14}},
	}, {
		name: "tool calls",
		reply: fakeollama.Reply{PromptEvalCount: 20, EvalCount: 9, ToolCalls: []fakeollama.ToolCall{
			{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {Name: "now", Arguments: `{}`}}},
		want: llm.Response{FinishReason: llm.FinishToolCalls, Model: "tiny", Provider: providerName,
			ToolCalls: []llm.ToolCall{{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_1", Name: "now", Arguments: `{}`}},
			Usage:     llm.Usage{InputTokens: 20, OutputTokens: 9, TotalTokens: 29}},
	}, {
		name:  "length",
		reply: fakeollama.Reply{Deltas: []string{"Once", " upon"}, DoneReason: "length", PromptEvalCount: 5, EvalCount: 2},
		want: llm.Response{Text: "Once upon", FinishReason: llm.FinishLength, Model: "tiny", Provider: providerName,
			Usage: llm.Usage{InputTokens: 5, OutputTokens: 2, TotalTokens: 7}},
	}, {
		name:  "overloaded",
		reply: fakeollama.Reply{Status: http.StatusServiceUnavailable, Body: `{"error":"server busy, please try again.  maximum pending requests exceeded"}`},
		kind:  llm.KindUnavailable,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeollama.New(t)
			c := newClient(t, f.URL)
			f.Enqueue(tt.reply, tt.reply)
			streamed, collected := llmtest.BothWays(c, llmtest.ConformanceRequest("tiny"))
			llmtest.SameBothWays(t, streamed, collected, tt.kind, tt.want)
			var chats []*fakeollama.ChatRequest
			for _, r := range f.Requests() {
				if r.Chat != nil {
					chats = append(chats, r.Chat)
				}
			}
			if len(chats) != 2 {
				t.Fatalf("%d chat requests, want 2", len(chats))
			}
			for i, want := range []bool{true, false} {
				if s := chats[i].Stream; s == nil || *s != want {
					t.Errorf("request %d: stream %v, want %v", i, s, want)
				}
			}
		})
	}
}
