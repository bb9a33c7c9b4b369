package openai

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeRequest(t *testing.T) {
	weather := llm.Tool{Name: "get_weather", Description: "Weather", Parameters: json.RawMessage(`{"type":"object"}`)}
	tests := []struct {
		name     string
		req      llm.Request
		maxField string
		want     string
	}{{
		name:     "minimal",
		req:      llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}},
		maxField: MaxCompletionTokens,
		want:     `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
	}, {
		name: "sampling, system first, max_completion_tokens",
		req: llm.Request{
			Model: "gpt-5-mini", System: "Be brief.", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
			MaxTokens: 64, Temperature: ptr(0.2), TopP: ptr(0.9), Stop: []string{"END", "STOP"}, Seed: ptr(int64(7)),
			User: "u-1", JSON: true,
		},
		maxField: MaxCompletionTokens,
		want: `{"model":"gpt-5-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],
			"max_completion_tokens":64,"temperature":0.2,"top_p":0.9,"stop":["END","STOP"],"seed":7,"user":"u-1",
			"response_format":{"type":"json_object"},"stream":true,"stream_options":{"include_usage":true}}`,
	}, {
		name:     "compatible server: max_tokens, zero temperature kept",
		req:      llm.Request{Model: "llama3", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, MaxTokens: 10, Temperature: ptr(0.0)},
		maxField: MaxTokens,
		want:     `{"model":"llama3","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}`,
	}, {
		name: "tool round trip",
		req: llm.Request{
			Model: "gpt-4o", Tools: []llm.Tool{weather, {Name: "now"}}, ToolChoice: "required",
			Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "Weather in Paris?"},
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_2", Name: "now"}}},
				{Role: llm.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: `{"temp":21}`},
				{Role: llm.RoleTool, ToolCallID: "call_2", Name: "now", Content: `12:00`},
				{Role: llm.RoleAssistant, Content: "21°C at noon."},
			},
		},
		maxField: MaxTokens,
		want: `{"model":"gpt-4o","messages":[
			{"role":"user","content":"Weather in Paris?"},
			{"role":"assistant","content":null,"tool_calls":[
				{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
				{"id":"call_2","type":"function","function":{"name":"now","arguments":"{}"}}]},
			{"role":"tool","content":"{\"temp\":21}","tool_call_id":"call_1"},
			{"role":"tool","content":"12:00","tool_call_id":"call_2"},
			{"role":"assistant","content":"21°C at noon."}],
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object"}}},
			         {"type":"function","function":{"name":"now"}}],
			"tool_choice":"required","stream":true,"stream_options":{"include_usage":true}}`,
	}, {
		name:     "thinking level as reasoning_effort",
		req:      llm.Request{Model: "gpt-5-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, ThinkingLevel: "Low", ThinkingBudget: ptr(0)},
		maxField: MaxCompletionTokens,
		want:     `{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"low","stream":true,"stream_options":{"include_usage":true}}`,
	}, {
		name:     "named tool choice",
		req:      llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{weather}, ToolChoice: "get_weather"},
		maxField: MaxTokens,
		want: `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object"}}}],
			"tool_choice":{"type":"function","function":{"name":"get_weather"}},"stream":true,"stream_options":{"include_usage":true}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRequest(&tt.req, tt.maxField)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, []byte(tt.want)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.String(), string(got)); diff != "" {
				t.Errorf("wire JSON (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeRequestInvalid(t *testing.T) {
	tests := []struct {
		name string
		req  llm.Request
	}{
		{"no model", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}},
		{"tool turn without id", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}}},
		{"unknown role", llm.Request{Model: "m", Messages: []llm.Message{{Role: "wizard", Content: "x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := encodeRequest(&tt.req, MaxTokens); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		cfg        Config
		name, base string
		maxField   string
	}{
		{Config{}, "openai", DefaultBaseURL, MaxCompletionTokens},
		{Config{BaseURL: "https://api.openai.com/v1/"}, "openai", "https://api.openai.com/v1", MaxCompletionTokens},
		{Config{Name: "groq", BaseURL: "https://api.groq.com/openai/v1"}, "groq", "https://api.groq.com/openai/v1", MaxTokens},
		{Config{Name: "vllm", BaseURL: "http://gpu:8000/v1", MaxTokensField: MaxCompletionTokens}, "vllm", "http://gpu:8000/v1", MaxCompletionTokens},
	}
	for _, tt := range tests {
		c := New(tt.cfg)
		if c.name != tt.name || c.base != tt.base || c.maxField != tt.maxField {
			t.Errorf("New(%+v) = name %q base %q field %q, want %q %q %q", tt.cfg, c.name, c.base, c.maxField, tt.name, tt.base, tt.maxField)
		}
	}
}
