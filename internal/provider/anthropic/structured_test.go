package anthropic

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeanthropic"
)

// TestAnswerToolMapping: a JSON answer is a forced synthetic tool whose
// schema is the caller's (wrapped when not an object); images are base64
// image blocks after the text.
func TestAnswerToolMapping(t *testing.T) {
	obj := json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)
	user := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	weather := []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
	tests := []struct {
		name   string
		req    llm.Request
		tools  []string // names, in order
		schema any      // the answer tool's input_schema
		choice any
	}{
		{"object schema", llm.Request{Messages: user, Schema: &llm.Schema{Name: "x", Schema: obj}}, []string{AnswerTool},
			map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}},
			map[string]any{"type": "tool", "name": AnswerTool}},
		{"array schema is wrapped", llm.Request{Messages: user, Schema: &llm.Schema{Schema: json.RawMessage(`{"type":"array","items":{"type":"integer"}}`)}}, []string{AnswerTool},
			map[string]any{"type": "object", "required": []any{"value"}, "properties": map[string]any{"value": map[string]any{"type": "array", "items": map[string]any{"type": "integer"}}}},
			map[string]any{"type": "tool", "name": AnswerTool}},
		{"json mode: any object", llm.Request{Messages: user, JSON: true}, []string{AnswerTool},
			map[string]any{"type": "object"}, map[string]any{"type": "tool", "name": AnswerTool}},
		{"with caller tools: any", llm.Request{Messages: user, JSON: true, Tools: weather}, []string{"get_weather", AnswerTool},
			map[string]any{"type": "object"}, map[string]any{"type": "any"}},
		{"caller tools off", llm.Request{Messages: user, JSON: true, Tools: weather, ToolChoice: "none"}, []string{AnswerTool},
			map[string]any{"type": "object"}, map[string]any{"type": "tool", "name": AnswerTool}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Model = "claude-haiku-4-5"
			b, err := encodeRequest(&tt.req, Version2023)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Tools []struct {
					Name        string `json:"name"`
					InputSchema any    `json:"input_schema"`
				} `json:"tools"`
				ToolChoice any `json:"tool_choice"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range body.Tools {
				names = append(names, tl.Name)
			}
			if diff := cmp.Diff(tt.tools, names); diff != "" {
				t.Fatalf("tools (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.schema, body.Tools[len(body.Tools)-1].InputSchema); diff != "" {
				t.Errorf("answer schema (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.choice, body.ToolChoice); diff != "" {
				t.Errorf("tool_choice (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAnswerToolBecomesText: the forced tool's input comes back as the
// answer text, finish "stop", and the synthetic call never reaches the
// caller, streamed and collected; a real tool call next to it is kept.
func TestAnswerToolBecomesText(t *testing.T) {
	for _, collect := range []bool{false, true} {
		c, f := newFake(t, Config{})
		f.Enqueue(fakeanthropic.Reply{ToolCalls: []fakeanthropic.ToolCall{{ID: "toolu_1", Name: AnswerTool, Input: `{"value":[1,2]}`}}})
		req := &llm.Request{Model: "claude-haiku-4-5", MaxTokens: 50, Collect: collect, Messages: []llm.Message{{Role: llm.RoleUser, Content: "two numbers"}},
			Schema: &llm.Schema{Name: "nums", Schema: json.RawMessage(`{"type":"array","items":{"type":"integer"}}`)}}
		resp, err := llm.Collect(c.Stream(context.Background(), req))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "[1,2]" || len(resp.ToolCalls) != 0 || resp.FinishReason != llm.FinishStop {
			t.Errorf("collect=%v: got %q, calls %v, finish %q; want [1,2], none, stop", collect, resp.Text, resp.ToolCalls, resp.FinishReason)
		}
		f.Enqueue(fakeanthropic.Reply{ToolCalls: []fakeanthropic.ToolCall{{ID: "toolu_2", Name: "get_weather", Input: `{"city":"Paris"}`}}})
		req.Tools = []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
		resp, err = llm.Collect(c.Stream(context.Background(), req))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != "get_weather" || resp.FinishReason != llm.FinishToolCalls {
			t.Errorf("collect=%v: a real tool call: %+v", collect, resp)
		}
	}
}

// TestImageBlocks: an image goes as a base64 image block the fake
// validates (type, bytes matching the media type).
func TestImageBlocks(t *testing.T) {
	c, f := newFake(t, Config{})
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	req := &llm.Request{Model: "claude-haiku-4-5", MaxTokens: 50, Messages: []llm.Message{{Role: llm.RoleUser, Content: "what?",
		Images: []llm.Image{{MIMEType: "image/png", Data: png}}}}}
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Messages []struct {
			Content []map[string]any `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(f.LastRequest().Body, &body); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"type": "text", "text": "what?"},
		{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="}}}
	if diff := cmp.Diff(want, body.Messages[0].Content); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	req.Messages[0].Images[0].MIMEType = "image/jpeg" // the fake checks the bytes, as the API does
	if _, err := llm.Collect(c.Stream(context.Background(), req)); llm.KindOf(err) != llm.KindInvalid {
		t.Errorf("mismatched media type: err = %v, want invalid", err)
	}
}
