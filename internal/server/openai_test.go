package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

func sdk(h *harness) openai.Client {
	return openai.NewClient(option.WithBaseURL(h.srv.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
}

func TestOpenAISDKNonStream(t *testing.T) {
	h := newHarness(t)
	h.primary.Push([]fakeprovider.Step{
		fakeprovider.Text("Hi there"),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "stop", Model: "gemini-2.5-flash",
			Usage: &llm.Usage{InputTokens: 9, OutputTokens: 7, ThinkingTokens: 4, CachedInputTokens: 2, TotalTokens: 16}}),
	})
	c := sdk(h)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:       "default",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello")},
		Temperature: openai.Float(0.3),
		MaxTokens:   openai.Int(100),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Object != "chat.completion" || len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "Hi there" ||
		resp.Choices[0].FinishReason != "stop" || resp.Model != "gemini-2.5-flash" {
		t.Fatalf("resp = %+v", resp)
	}
	u := resp.Usage
	if u.PromptTokens != 9 || u.CompletionTokens != 7 || u.TotalTokens != 16 ||
		u.CompletionTokensDetails.ReasoningTokens != 4 || u.PromptTokensDetails.CachedTokens != 2 {
		t.Errorf("usage = %+v", u)
	}
	req := h.primary.Calls()[0].Request
	if req.System != "be brief" || req.MaxTokens != 100 || *req.Temperature != 0.3 {
		t.Errorf("request = %+v", req)
	}
}

func TestOpenAISDKStream(t *testing.T) {
	h := newHarness(t)
	h.primary.Push([]fakeprovider.Step{
		fakeprovider.Text("Hel"), fakeprovider.Text("lo"),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "stop", Model: "gemini-2.5-flash", Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2, TotalTokens: 5}}),
	})
	c := sdk(h)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "default",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	n := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		n++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "Hello" {
		t.Errorf("content = %q", got)
	}
	if acc.Usage.TotalTokens != 5 || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("usage %+v finish %q", acc.Usage, acc.Choices[0].FinishReason)
	}
	if n != 4 { // two deltas, finish, usage
		t.Errorf("got %d chunks", n)
	}
}

func TestOpenAISDKTools(t *testing.T) {
	h := newHarness(t)
	h.primary.Push([]fakeprovider.Step{
		fakeprovider.Chunk(llm.Chunk{ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}}),
		fakeprovider.Chunk(llm.Chunk{FinishReason: "tool_calls", Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2}}),
	})
	h.primary.Push(answer("It is sunny.", 20, "google", "gemini-2.5-flash"))
	c := sdk(h)
	params := openai.ChatCompletionNewParams{
		Model:    "default",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	}
	resp, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"Paris"}` || resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool calls = %+v finish %q", tc, resp.Choices[0].FinishReason)
	}
	params.Messages = append(params.Messages, resp.Choices[0].Message.ToParam(), openai.ToolMessage(`{"sky":"clear"}`, tc[0].ID))
	resp, err = c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "It is sunny." {
		t.Errorf("second turn = %+v", resp.Choices[0].Message)
	}
	req := h.primary.Calls()[1].Request
	if len(req.Messages) != 3 || req.Messages[1].ToolCalls[0].Name != "get_weather" || req.Messages[2].Role != llm.RoleTool ||
		req.Messages[2].Name != "get_weather" || req.Messages[2].ToolCallID != tc[0].ID || len(req.Tools) != 1 {
		t.Errorf("tool turn request = %+v", req.Messages)
	}
}

func TestOpenAISDKErrors(t *testing.T) {
	h := newHarness(t)
	c := sdk(h)
	tests := []struct {
		name   string
		params openai.ChatCompletionNewParams
		setup  func()
		status int
		param  string
	}{
		{"n above the candidate limit", openai.ChatCompletionNewParams{Model: "default", N: openai.Int(9),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}, nil, 400, "n"},
		{"logprobs", openai.ChatCompletionNewParams{Model: "default", Logprobs: openai.Bool(true),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}, nil, 400, "logprobs"},
		{"unknown provider", openai.ChatCompletionNewParams{Model: "nowhere/x",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}, nil, 404, "model"},
		{"rate limited", openai.ChatCompletionNewParams{Model: "google/gemini-2.5-flash",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}, func() {
			h.primary.SetDefault(fakeprovider.Err(&llm.Error{Kind: llm.KindRateLimited, Provider: "google", StatusCode: 429, Message: "quota exceeded"}))
		}, 429, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			_, err := c.Chat.Completions.New(context.Background(), tt.params)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v", err)
			}
			if apiErr.StatusCode != tt.status || (tt.param != "" && apiErr.Param != tt.param) || apiErr.Message == "" {
				t.Errorf("error = %d %q param %q", apiErr.StatusCode, apiErr.Message, apiErr.Param)
			}
		})
	}
}

func TestOpenAIStreamErrorAfterStart(t *testing.T) {
	h := newHarness(t)
	h.primary.Push([]fakeprovider.Step{
		fakeprovider.Text("a"),
		fakeprovider.Err(&llm.Error{Kind: llm.KindUpstream, Provider: "google", Message: "stream cut"}),
	})
	c := sdk(h)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "default", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "stream cut") {
		t.Fatalf("stream error = %v", err)
	}
}

func TestModelsList(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestV1NotRoutedAndModels: unknown /v1 paths answer in OpenAI's error
// shape (the seed's paths keep FastAPI's), and /v1/models lists only what
// the caller may use.
func TestV1NotRoutedAndModels(t *testing.T) {
	s := &Server{
		Log:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Models: func() []ModelInfo { return []ModelInfo{{ID: "google/gemini-2.5-flash"}, {ID: "ollama/llama2"}} },
		AllowModel: func(ctx context.Context, m string) bool {
			return ctx.Value(testAllowKey{}) == nil || strings.HasPrefix(m, "ollama/")
		},
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(method, path string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for _, tc := range []struct {
		method, path string
		status       int
		openai       bool
	}{
		{"GET", "/v1/nothing", 404, true},
		{"GET", "/v1", 404, true},
		{"DELETE", "/v1/models", 405, true},
		{"GET", "/nothing", 404, false},
	} {
		code, body := get(tc.method, tc.path)
		e, isOA := body["error"].(map[string]any)
		_, isDetail := body["detail"]
		if code != tc.status || isOA != tc.openai || isDetail == tc.openai {
			t.Errorf("%s %s: %d %v", tc.method, tc.path, code, body)
		}
		if isOA && (e["type"] != "invalid_request_error" || !strings.Contains(e["message"].(string), tc.path)) {
			t.Errorf("%s %s: error %v", tc.method, tc.path, e)
		}
	}
	_, all := get("GET", "/v1/models")
	if n := len(all["data"].([]any)); n != 2 {
		t.Errorf("open mode lists %d models, want 2", n)
	}
	// A key allowed only ollama/* sees only those.
	s.WrapV1 = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), testAllowKey{}, true)))
		})
	}
	srv2 := httptest.NewServer(s.Handler())
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Data []ModelInfo }
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if len(m.Data) != 1 || m.Data[0].ID != "ollama/llama2" {
		t.Errorf("restricted key lists %+v, want only ollama/llama2", m.Data)
	}
}

type testAllowKey struct{}
