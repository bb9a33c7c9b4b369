package ollama

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
)

func ptr[T any](v T) *T { return &v }

func TestToWire(t *testing.T) {
	weather := llm.Tool{Name: "get_weather", Description: "Get weather",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}
	clock := llm.Tool{Name: "clock"}
	user := llm.Message{Role: llm.RoleUser, Content: "hi"}
	tests := []struct {
		name string
		req  llm.Request
		ka   string
		want string
	}{
		{"minimal", llm.Request{Model: "tiny", Messages: []llm.Message{user}},
			"", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stream":true}`},
		{"system first and options", llm.Request{Model: "tiny", System: "be brief", Messages: []llm.Message{user},
			MaxTokens: 3, Temperature: ptr(0.2), TopP: ptr(0.9), Stop: []string{"fox"}, Seed: ptr(int64(42)), JSON: true},
			"", `{"model":"tiny","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"stream":true,"format":"json",` +
				`"options":{"num_predict":3,"temperature":0.2,"top_p":0.9,"stop":["fox"],"seed":42}}`},
		{"zero temperature is sent", llm.Request{Model: "tiny", Messages: []llm.Message{user}, Temperature: ptr(0.0)},
			"", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stream":true,"options":{"temperature":0}}`},
		{"keep alive duration", llm.Request{Model: "tiny", Messages: []llm.Message{user}},
			"5m", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stream":true,"keep_alive":"5m"}`},
		{"keep alive seconds", llm.Request{Model: "tiny", Messages: []llm.Message{user}},
			"-1", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stream":true,"keep_alive":-1}`},
		{"tools and a tool round trip", llm.Request{Model: "tiny", Tools: []llm.Tool{weather, clock}, Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "weather in Paris?"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city": "Paris"}`}}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: "sunny, 21C"}}},
			"", `{"model":"tiny","messages":[{"role":"user","content":"weather in Paris?"},` +
				`{"role":"assistant","content":"","tool_calls":[{"id":"call_1","function":{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}}]},` +
				`{"role":"tool","content":"sunny, 21C","tool_name":"get_weather","tool_call_id":"call_1"}],"stream":true,` +
				`"tools":[{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},` +
				`{"type":"function","function":{"name":"clock","parameters":{"type":"object","properties":{}}}}]}`},
		{"empty arguments become an object", llm.Request{Model: "m", Messages: []llm.Message{
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "clock"}}}}},
			"", `{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"clock","arguments":{}}}]}],"stream":true}`},
		{"tool choice none drops tools", llm.Request{Model: "m", Messages: []llm.Message{user}, Tools: []llm.Tool{weather}, ToolChoice: "none"},
			"", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`},
		{"tool choice by name keeps that tool", llm.Request{Model: "m", Messages: []llm.Message{user}, Tools: []llm.Tool{weather, clock}, ToolChoice: "clock"},
			"", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"tools":[{"type":"function","function":{"name":"clock","parameters":{"type":"object","properties":{}}}}]}`},
		{"user and thinking budget are not sent", llm.Request{Model: "m", Messages: []llm.Message{user}, User: "u-1", ThinkingBudget: ptr(0)},
			"", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, err := keepAliveJSON(tt.ka)
			if err != nil {
				t.Fatal(err)
			}
			w, err := toWire(&tt.req, ka)
			if err != nil {
				t.Fatalf("toWire: %v", err)
			}
			got, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToWireInvalid(t *testing.T) {
	user := llm.Message{Role: llm.RoleUser, Content: "hi"}
	tests := []struct {
		name string
		req  llm.Request
	}{
		{"no model", llm.Request{Messages: []llm.Message{user}}},
		{"unknown role", llm.Request{Model: "m", Messages: []llm.Message{{Role: "developer", Content: "x"}}}},
		{"arguments not JSON", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f", Arguments: "{oops"}}}}}},
		{"arguments not an object", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f", Arguments: "[1]"}}}}}},
		{"schema not JSON", llm.Request{Model: "m", Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage("{")}}}},
		{"tool choice names unknown tool", llm.Request{Model: "m", Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: "g"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := toWire(&tt.req, nil)
			if llm.KindOf(err) != llm.KindInvalid || llm.Retryable(err) {
				t.Errorf("err = %v (kind %v), want invalid_request", err, llm.KindOf(err))
			}
		})
	}
}

func TestKeepAliveInvalid(t *testing.T) {
	for _, s := range []string{"soon", "5 minutes"} {
		if _, err := keepAliveJSON(s); err == nil {
			t.Errorf("keepAliveJSON(%q) accepted", s)
		}
	}
}

func TestFromWireToolCalls(t *testing.T) {
	calls := []toolCall{
		{ID: "call_sre5n3br", Function: toolFunction{Name: "get_weather", Arguments: json.RawMessage(`{ "city" : "Paris" }`)}},
		{Function: toolFunction{Name: "clock", Arguments: json.RawMessage(`null`)}},
		{Function: toolFunction{Name: "noargs"}},
	}
	got := fromWireToolCalls(calls, 2)
	want := []llm.ToolCall{
		{ID: "call_sre5n3br", Name: "get_weather", Arguments: `{"city":"Paris"}`},
		{ID: "call_3", Name: "clock", Arguments: `{}`},
		{ID: "call_4", Name: "noargs", Arguments: `{}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tool calls (-want +got):\n%s", diff)
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		done  string
		tools bool
		want  string
	}{
		{"stop", false, llm.FinishStop},
		{"length", false, llm.FinishLength},
		{"", false, llm.FinishStop},
		{"load", false, llm.FinishStop},
		{"stop", true, llm.FinishToolCalls},
		{"length", true, llm.FinishToolCalls},
		{"something_new", false, "something_new"},
	}
	for _, tt := range tests {
		if got := finishReason(tt.done, tt.tools); got != tt.want {
			t.Errorf("finishReason(%q, %v) = %q, want %q", tt.done, tt.tools, got, tt.want)
		}
	}
}
