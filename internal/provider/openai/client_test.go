package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeopenai"
)

func newFake(t *testing.T, cfg Config) (*Client, *fakeopenai.Server) {
	t.Helper()
	f := fakeopenai.New(t)
	cfg.BaseURL = f.BaseURL()
	if cfg.APIKey == "" {
		cfg.APIKey = fakeopenai.Key
	}
	return New(cfg), f
}

func TestConformance(t *testing.T) {
	llmtest.RunConformance(t, func(t *testing.T) (llm.Provider, llmtest.Scripter, string) {
		c, f := newFake(t, Config{})
		return c, f, "gpt-4o-mini"
	})
}

func TestConformanceCompatibleName(t *testing.T) {
	c, f := newFake(t, Config{Name: "vllm"})
	f.Next(llmtest.ScenarioText)
	r, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("meta-llama/Llama-3.1-8B")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Provider != "vllm" || r.Model != "meta-llama/Llama-3.1-8B" {
		t.Errorf("provider %q model %q", r.Provider, r.Model)
	}
	var body map[string]any
	if err := f.LastRequest().Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body["max_tokens"] != 64.0 || body["max_completion_tokens"] != nil {
		t.Errorf("a compatible server gets max_tokens by default: %v", body)
	}
}

func TestRequestHeaders(t *testing.T) {
	c, f := newFake(t, Config{Organization: "org-1", Project: "proj-1", ExtraHeaders: map[string]string{"X-Team": "blue"}})
	if _, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("gpt-4o-mini"))); err != nil {
		t.Fatal(err)
	}
	r := f.LastRequest()
	want := map[string]string{
		"Authorization": "Bearer " + fakeopenai.Key, "Openai-Organization": "org-1", "Openai-Project": "proj-1",
		"X-Team": "blue", "Content-Type": "application/json", "Accept": "text/event-stream",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.Path != "/v1/chat/completions" {
		t.Errorf("path = %q", r.Path)
	}
}

// TestReasoningModelField shows why api.openai.com gets
// max_completion_tokens: the fake, like OpenAI, refuses max_tokens for
// reasoning models.
func TestReasoningModelField(t *testing.T) {
	for _, tt := range []struct {
		field string
		kind  llm.Kind
	}{{MaxCompletionTokens, llm.KindInternal}, {MaxTokens, llm.KindInvalid}} {
		c, _ := newFake(t, Config{MaxTokensField: tt.field})
		_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("o4-mini")))
		if (err == nil) != (tt.kind == llm.KindInternal) || err != nil && llm.KindOf(err) != tt.kind {
			t.Errorf("field %s: err = %v", tt.field, err)
		}
	}
}

func TestToolCallStream(t *testing.T) {
	c, f := newFake(t, Config{})
	f.Enqueue(fakeopenai.Reply{
		Text:      []string{"Let me check."},
		ToolCalls: []fakeopenai.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris","unit":"celsius"}`}, {ID: "call_2", Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`}},
		Usage:     &fakeopenai.Usage{PromptTokens: 50, CompletionTokens: 30, CachedTokens: 20, ReasoningTokens: 10},
	})
	req := llmtest.ConformanceRequest("gpt-4o-mini")
	req.Tools = []llm.Tool{llmtest.WeatherTool, {Name: "get_time"}}
	var chunks []llm.Chunk
	for ch, err := range c.Stream(context.Background(), req) {
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, ch)
	}
	last := chunks[len(chunks)-1]
	want := llm.Chunk{
		ToolCalls: []llm.ToolCall{
			{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris","unit":"celsius"}`},
			{ID: "call_2", Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`},
		},
		FinishReason: llm.FinishToolCalls, Model: "gpt-4o-mini", Provider: "openai",
		Usage: &llm.Usage{InputTokens: 50, CachedInputTokens: 20, OutputTokens: 30, ThinkingTokens: 10, TotalTokens: 80},
	}
	if diff := cmp.Diff(want, last); diff != "" {
		t.Errorf("last chunk (-want +got):\n%s", diff)
	}
	if chunks[0].Delta != "Let me check." {
		t.Errorf("first chunk = %+v", chunks[0])
	}
	// The answer goes back as history and the fake accepts it.
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, Content: "Let me check.", ToolCalls: last.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_1", Content: `{"temp":21}`},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_2", Content: `"12:00"`})
	r, err := llm.Collect(c.Stream(context.Background(), req))
	if err != nil || r.Text == "" {
		t.Fatalf("follow-up: %+v, %v", r, err)
	}
}

func TestBreakOutCancelsUpstream(t *testing.T) {
	c, f := newFake(t, Config{})
	f.Enqueue(fakeopenai.Reply{Text: []string{"a", "b", "c"}, Fault: fakeopenai.FaultStallAfter, After: 1})
	for ch, err := range c.Stream(context.Background(), llmtest.ConformanceRequest("gpt-4o-mini")) {
		if err != nil {
			t.Fatal(err)
		}
		if ch.Delta == "a" {
			break
		}
	}
	select {
	case <-f.Canceled():
	case <-time.After(10 * time.Second):
		t.Fatal("the fake never saw the request canceled")
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("stall until deadline", func(t *testing.T) {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeopenai.Reply{Fault: fakeopenai.FaultStallBefore})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := llm.Collect(c.Stream(ctx, llmtest.ConformanceRequest("m")))
		if llm.KindOf(err) != llm.KindTimeout {
			t.Errorf("err = %v (kind %v), want timeout", err, llm.KindOf(err))
		}
	})
	t.Run("stall mid-stream, caller cancels", func(t *testing.T) {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeopenai.Reply{Text: []string{"a", "b"}, Fault: fakeopenai.FaultStallAfter, After: 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var err error
		for ch, e := range c.Stream(ctx, llmtest.ConformanceRequest("m")) {
			if ch.Delta == "a" {
				cancel()
			}
			err = e
		}
		if llm.KindOf(err) != llm.KindCanceled {
			t.Errorf("err = %v (kind %v), want canceled", err, llm.KindOf(err))
		}
	})
	t.Run("cut before first byte", func(t *testing.T) {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeopenai.Reply{Fault: fakeopenai.FaultCutBefore})
		_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
		if llm.KindOf(err) != llm.KindUnavailable {
			t.Errorf("err = %v (kind %v), want unavailable", err, llm.KindOf(err))
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c := New(Config{BaseURL: srv.URL + "/v1", APIKey: "sk-secret-abc"})
		_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
		if llm.KindOf(err) != llm.KindUnavailable || strings.Contains(err.Error(), "sk-secret-abc") {
			t.Errorf("err = %v (kind %v)", err, llm.KindOf(err))
		}
	})
	for _, fault := range []fakeopenai.Fault{fakeopenai.FaultMalformedAfter, fakeopenai.FaultErrorAfter, fakeopenai.FaultCutAfter} {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeopenai.Reply{Text: []string{"a", "b", "c"}, Fault: fault, After: 2})
		r, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
		if !llm.Retryable(err) || r.Text != "ab" {
			t.Errorf("fault %d: text %q, err %v (kind %v)", fault, r.Text, err, llm.KindOf(err))
		}
	}
}

func TestBadKey(t *testing.T) {
	c, _ := newFake(t, Config{APIKey: "sk-wrong-key-0000"})
	_, err := llm.Collect(c.Stream(context.Background(), llmtest.ConformanceRequest("m")))
	if llm.KindOf(err) != llm.KindUnauthorized || strings.Contains(err.Error(), "sk-wrong-key-0000") {
		t.Errorf("err = %v", err)
	}
	if err := c.Ping(context.Background()); llm.KindOf(err) != llm.KindUnauthorized {
		t.Errorf("ping err = %v", err)
	}
}

func TestPing(t *testing.T) {
	c, f := newFake(t, Config{})
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := f.LastRequest(); r.Method != http.MethodGet || r.Path != "/v1/models" {
		t.Errorf("ping sent %s %s", r.Method, r.Path)
	}
}

func TestJSONMode(t *testing.T) {
	c, f := newFake(t, Config{})
	req := llmtest.ConformanceRequest("gpt-4o-mini")
	req.JSON = true
	req.Messages[0].Content = "Answer in JSON."
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatal(err)
	}
	var body struct {
		ResponseFormat json.RawMessage `json:"response_format"`
	}
	_ = f.LastRequest().Decode(&body)
	if string(body.ResponseFormat) != `{"type":"json_object"}` {
		t.Errorf("response_format = %s", body.ResponseFormat)
	}
}

// TestServerIgnoresStream: some compatible servers answer a whole JSON
// completion to a stream request; it is read all the same.
func TestServerIgnoresStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","model":"llama3","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`))
	}))
	defer srv.Close()
	r, err := llm.Collect(New(Config{Name: "llamacpp", BaseURL: srv.URL}).Stream(context.Background(), llmtest.ConformanceRequest("llama3")))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{Text: "Hi", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}, FinishReason: "tool_calls",
		Usage: llm.Usage{InputTokens: 3, OutputTokens: 2, TotalTokens: 5}, Model: "llama3", Provider: "llamacpp"}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}
