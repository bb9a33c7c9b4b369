package anthropic

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
)

// TestThinkingRoundTrip: a request with a thinking budget asks for
// thinking (budget on top of the answer's max_tokens), the thinking and
// its signature come back as chunks, and the next turn sends the signed
// block back first, as the fake (like the API) requires with tool use.
func TestThinkingRoundTrip(t *testing.T) {
	for _, collect := range []bool{false, true} {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeanthropic.Reply{Thinking: []string{"Let me ", "think."}, Signature: "sig-1",
			ToolCalls: []fakeanthropic.ToolCall{{ID: "toolu_1", Name: "get_weather", Input: `{"city":"Paris"}`}}})
		budget := 2048
		req := &llm.Request{Model: "claude-sonnet-4-5", MaxTokens: 500, ThinkingBudget: &budget, Collect: collect,
			Tools:    []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}},
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "weather?"}}}
		r, err := llm.Collect(c.Stream(context.Background(), req))
		if err != nil {
			t.Fatalf("collect=%v: %v", collect, err)
		}
		if r.Thinking != "Let me think." || r.ThinkingSignature != "sig-1" || len(r.ToolCalls) != 1 {
			t.Fatalf("collect=%v: response %+v", collect, r)
		}
		var sent struct {
			MaxTokens int `json:"max_tokens"`
			Thinking  struct {
				Type         string `json:"type"`
				BudgetTokens int    `json:"budget_tokens"`
			} `json:"thinking"`
		}
		_ = json.Unmarshal(f.LastRequest().Body, &sent)
		if sent.MaxTokens != 2548 || sent.Thinking.Type != "enabled" || sent.Thinking.BudgetTokens != 2048 {
			t.Errorf("sent %+v", sent)
		}
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleAssistant, ToolCalls: r.ToolCalls, Thinking: r.Thinking, ThinkingSignature: r.ThinkingSignature},
			llm.Message{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: `{"temp":21}`})
		if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
			t.Fatalf("collect=%v: tool result turn: %v", collect, err)
		}
		if b := string(f.LastRequest().Body); !strings.Contains(b, `"content":[{"type":"thinking","thinking":"Let me think.","signature":"sig-1"},{"type":"tool_use"`) {
			t.Errorf("thinking block not sent back first: %s", b)
		}
		// Without the signed block the fake refuses, as the API does.
		req.Messages[1].ThinkingSignature = ""
		if _, err := llm.Collect(c.Stream(context.Background(), req)); llm.KindOf(err) != llm.KindInvalid {
			t.Errorf("collect=%v: unsigned thinking: err = %v", collect, err)
		}
	}
}

func TestCountTokens(t *testing.T) {
	c, f := newFake(t, Config{})
	short := &llm.Request{Model: "claude-sonnet-4-5", System: "be brief", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	long := short.Clone()
	long.Messages[0].Content = strings.Repeat("many more words ", 20)
	a, err := c.CountTokens(context.Background(), short)
	b, err2 := c.CountTokens(context.Background(), long)
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	counts := f.Counts()
	if a.Estimated || len(counts) != 2 || a.InputTokens != counts[0] || b.InputTokens != counts[1] || b.InputTokens <= a.InputTokens {
		t.Errorf("counts %+v %+v, the fake answered %v", a, b, counts)
	}
	if r := f.LastRequest(); r.Path != "/v1/messages/count_tokens" || strings.Contains(string(r.Body), "max_tokens") {
		t.Errorf("request %s %s", r.Path, r.Body)
	}
}
