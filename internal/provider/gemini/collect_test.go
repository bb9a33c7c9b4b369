package gemini_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakegemini"
	"github.com/llm-connector/llm-connector/internal/provider/gemini"
)

// TestCollectMatchesStream: a collected request is one generateContent
// call, and its GenerateContentResponse maps to the same llm.Response
// (text without thoughts, function calls, finish reason, usage with
// thoughts and cached tokens) and the same errors (safety blocks, empty
// thinking answers, rate limits) as the stream of the same answer.
func TestCollectMatchesStream(t *testing.T) {
	u := fakegemini.Usage{PromptTokenCount: 11, CandidatesTokenCount: 6, ThoughtsTokenCount: 40, CachedContentTokenCount: 3}
	tests := []struct {
		name  string
		reply fakegemini.Reply
		want  llm.Response
		kind  llm.Kind // of the error, when the answer is one
	}{{
		name:  "text after thoughts, thinking and cached tokens",
		reply: fakegemini.Reply{Thoughts: []string{"**Plan** greet"}, Deltas: []string{"Hel", "lo", ", world"}, Usage: u},
		want: llm.Response{Text: "Hello, world", FinishReason: llm.FinishStop, Model: "gemini-2.5-flash", Provider: gemini.ProviderName,
			Usage: llm.Usage{InputTokens: 11, OutputTokens: 46, ThinkingTokens: 40, CachedInputTokens: 3, TotalTokens: 57}},
	}, {
		name: "text then two function calls",
		reply: fakegemini.Reply{Deltas: []string{"Checking."}, Usage: u, Calls: []fakegemini.FunctionCall{
			{Name: "get_weather", Args: []byte(`{"city":"Paris"}`)}, {Name: "now"}}},
		want: llm.Response{Text: "Checking.", FinishReason: llm.FinishToolCalls, Model: "gemini-2.5-flash", Provider: gemini.ProviderName,
			ToolCalls: []llm.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_1", Name: "now", Arguments: "{}"}},
			Usage:     llm.Usage{InputTokens: 11, OutputTokens: 46, ThinkingTokens: 40, CachedInputTokens: 3, TotalTokens: 57}},
	}, {
		name:  "max tokens with text",
		reply: fakegemini.Reply{Deltas: []string{"Once", " upon"}, FinishReason: "MAX_TOKENS", Usage: fakegemini.Usage{PromptTokenCount: 5, CandidatesTokenCount: 2}},
		want: llm.Response{Text: "Once upon", FinishReason: llm.FinishLength, Model: "gemini-2.5-flash", Provider: gemini.ProviderName,
			Usage: llm.Usage{InputTokens: 5, OutputTokens: 2, TotalTokens: 7}},
	}, {
		name:  "answer stopped by safety after some text",
		reply: fakegemini.Reply{Deltas: []string{"Well"}, FinishReason: "SAFETY", Usage: fakegemini.Usage{PromptTokenCount: 5, CandidatesTokenCount: 1}},
		want: llm.Response{Text: "Well", FinishReason: llm.FinishContentFilter, Model: "gemini-2.5-flash", Provider: gemini.ProviderName,
			Usage: llm.Usage{InputTokens: 5, OutputTokens: 1, TotalTokens: 6}},
	}, {
		name:  "thinking used the whole budget",
		reply: fakegemini.EmptyThinkingReply(64),
		kind:  llm.KindEmpty,
	}, {
		name:  "blocked prompt",
		reply: fakegemini.BlockedReply("SAFETY"),
		kind:  llm.KindBlocked,
	}, {
		name:  "answer blocked before any text",
		reply: fakegemini.Reply{FinishReason: "PROHIBITED_CONTENT", Usage: fakegemini.Usage{PromptTokenCount: 5}},
		kind:  llm.KindBlocked,
	}, {
		name:  "rate limited",
		reply: fakegemini.RateLimitReply("3s"),
		kind:  llm.KindRateLimited,
	}, {
		name:  "overloaded",
		reply: fakegemini.ErrorReply(http.StatusServiceUnavailable, "The model is overloaded. Please try again later."),
		kind:  llm.KindUnavailable,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newTest(t)
			srv.Enqueue(tt.reply, tt.reply)
			streamed, collected := llmtest.BothWays(c, llmtest.ConformanceRequest("gemini-2.5-flash"))
			llmtest.SameBothWays(t, streamed, collected, tt.kind, tt.want)
			reqs := srv.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			if reqs[0].Action != "streamGenerateContent" || reqs[0].Query.Get("alt") != "sse" {
				t.Errorf("streamed call: %s?%s", reqs[0].Action, reqs[0].Query.Encode())
			}
			if reqs[1].Action != "generateContent" || len(reqs[1].Query) != 0 {
				t.Errorf("collected call: %s?%s, want generateContent", reqs[1].Action, reqs[1].Query.Encode())
			}
			if d := cmp.Diff(reqs[0].Raw, reqs[1].Raw); d != "" {
				t.Errorf("the request bodies differ:\n%s", d)
			}
		})
	}
}
