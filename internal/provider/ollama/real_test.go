package ollama

// Integration tests against a real Ollama serving the deterministic model
// "tiny" (make ollama-test-server, from shared/tools/ollama-test-server). They run when
// OLLAMA_TEST_URL is set, skip with a message otherwise, and fail when
// CI=true and it is unset (fakeollama.RealURL).

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// realTimeout bounds each real call; tiny answers in ~50 ms, so this only
// turns a hang into a failure.
const realTimeout = 60 * time.Second

func realClient(t *testing.T) *Client {
	t.Helper()
	return newClient(t, fakeollama.RealURL(t))
}

func realCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), realTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestRealChat(t *testing.T) {
	c := realClient(t)
	var deltas []string
	var last llm.Chunk
	for ch, err := range c.Stream(realCtx(t), userRequest("tiny")) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if ch.Delta != "" {
			deltas = append(deltas, ch.Delta)
		}
		if ch.Usage != nil && ch.FinishReason == "" {
			t.Errorf("usage on a chunk that is not the last: %+v", ch)
		}
		last = ch
	}
	if got := strings.Join(deltas, ""); got != fakeollama.TinyAnswer {
		t.Errorf("answer %q, want %q", got, fakeollama.TinyAnswer)
	}
	if len(deltas) < 5 {
		t.Errorf("answer came in %d chunks, want it streamed", len(deltas))
	}
	u := last.Usage
	if u == nil || u.OutputTokens != 11 || u.InputTokens <= 0 || u.TotalTokens != u.InputTokens+u.OutputTokens {
		t.Errorf("usage %+v, want eval_count 11 and a prompt count", u)
	}
	if last.FinishReason != llm.FinishStop || last.Model != "tiny" || last.Provider != "ollama" {
		t.Errorf("last chunk %+v", last)
	}
}

func TestRealOptions(t *testing.T) {
	c := realClient(t)
	tests := []struct {
		name   string
		edit   func(*llm.Request)
		text   string
		finish string
	}{
		{"num_predict 3", func(r *llm.Request) { r.MaxTokens = 3 }, " the quick brown", llm.FinishLength},
		{"stop fox", func(r *llm.Request) { r.Stop = []string{"fox"} }, " the quick brown ", llm.FinishStop},
		{"system and sampling", func(r *llm.Request) {
			r.System, r.Temperature, r.TopP, r.Seed = "be brief", ptr(0.0), ptr(0.9), ptr(int64(7))
		}, fakeollama.TinyAnswer, llm.FinishStop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := userRequest("tiny")
			tt.edit(req)
			r, err := llm.Collect(c.Stream(realCtx(t), req))
			if err != nil {
				t.Fatalf("collect: %v", err)
			}
			if r.Text != tt.text || r.FinishReason != tt.finish {
				t.Errorf("got %q (%s), want %q (%s)", r.Text, r.FinishReason, tt.text, tt.finish)
			}
		})
	}
}

func TestRealJSON(t *testing.T) {
	req := userRequest("tiny")
	req.JSON = true
	r, err := llm.Collect(realClient(t).Stream(realCtx(t), req))
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if !json.Valid([]byte(r.Text)) {
		t.Errorf("format json answered %q", r.Text)
	}
}

func TestRealToolCall(t *testing.T) {
	c := realClient(t)
	req := userRequest("tiny")
	req.Messages[0].Content = "weather in Paris?"
	req.Tools = []llm.Tool{llmtest.WeatherTool}
	r, err := llm.Collect(c.Stream(realCtx(t), req))
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if len(r.ToolCalls) != 1 || r.ToolCalls[0].Name != "get_weather" || r.ToolCalls[0].Arguments != `{"city":"Paris"}` || r.ToolCalls[0].ID == "" {
		t.Fatalf("tool calls %+v", r.ToolCalls)
	}
	if r.FinishReason != llm.FinishToolCalls || r.Usage.OutputTokens == 0 {
		t.Errorf("response %+v", r)
	}
	// Second turn: the call and its result go back; tiny answers.
	call := r.ToolCalls[0]
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call}},
		llm.Message{Role: llm.RoleTool, ToolCallID: call.ID, Name: call.Name, Content: "sunny, 21C"})
	r, err = llm.Collect(c.Stream(realCtx(t), req))
	if err != nil {
		t.Fatalf("second turn: %v", err)
	}
	if r.Text != fakeollama.TinyAnswer || r.FinishReason != llm.FinishStop {
		t.Errorf("second turn %+v", r)
	}
}

func TestRealUnknownModel(t *testing.T) {
	_, err := llm.Collect(realClient(t).Stream(realCtx(t), userRequest("does-not-exist")))
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindNotFound || e.StatusCode != 404 || llm.Retryable(err) {
		t.Fatalf("err = %v (kind %v), want not_found 404", err, llm.KindOf(err))
	}
	if msg := llm.PublicMessage(err); !strings.Contains(msg, "ollama pull does-not-exist") {
		t.Errorf("message %q does not suggest ollama pull", msg)
	}
}

func TestRealPing(t *testing.T) {
	if err := realClient(t).Ping(realCtx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
