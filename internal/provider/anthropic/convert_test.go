package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeRequest(t *testing.T) {
	weather := llm.Tool{Name: "get_weather", Description: "Weather", Parameters: json.RawMessage(`{"type":"object"}`)}
	tests := []struct {
		name    string
		req     llm.Request
		version string
		want    string
	}{{
		name:    "minimal: default max_tokens",
		req:     llm.Request{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}},
		version: Version2023,
		want:    `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true}`,
	}, {
		name: "system top-level, sampling under 2023-06-01, seed dropped",
		req: llm.Request{
			Model: "claude-haiku-4-5", System: "Be brief.", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
			MaxTokens: 64, Temperature: ptr(0.2), TopP: ptr(0.9), Stop: []string{"END"}, Seed: ptr(int64(7)), User: "u-1",
		},
		version: Version2023,
		want: `{"model":"claude-haiku-4-5","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],
			"stop_sequences":["END"],"temperature":0.2,"top_p":0.9,"metadata":{"user_id":"u-1"},"stream":true}`,
	}, {
		name: "tool round trip: tool results merged into one user turn, first",
		req: llm.Request{
			Model: "claude-sonnet-4-5", Tools: []llm.Tool{weather, {Name: "now"}}, ToolChoice: "required",
			Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "Weather in Paris?"},
				{Role: llm.RoleAssistant, Content: "Checking.", ToolCalls: []llm.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "toolu_2", Name: "now"}}},
				{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: `{"temp":21}`},
				{Role: llm.RoleTool, ToolCallID: "toolu_2", Content: "12:00"},
				{Role: llm.RoleUser, Content: "And tomorrow?"},
			},
		},
		version: Version2026,
		want: `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[
			{"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},
			{"role":"assistant","content":[{"type":"text","text":"Checking."},
				{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
				{"type":"tool_use","id":"toolu_2","name":"now","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"{\"temp\":21}"},
				{"type":"tool_result","tool_use_id":"toolu_2","content":"12:00"},
				{"type":"text","text":"And tomorrow?"}]}],
			"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object"}},
				{"name":"now","input_schema":{"type":"object","properties":{}}}],
			"tool_choice":{"type":"any"},"stream":true}`,
	}, {
		name:    "consecutive user turns merged, named tool choice",
		req:     llm.Request{Model: "m", Tools: []llm.Tool{weather}, ToolChoice: "get_weather", Messages: []llm.Message{{Role: llm.RoleUser, Content: "a"}, {Role: llm.RoleUser, Content: "b"}}},
		version: Version2023,
		want: `{"model":"m","max_tokens":1024,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
			"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"get_weather"},"stream":true}`,
	}, {
		name:    "tool choice without tools is not sent",
		req:     llm.Request{Model: "m", ToolChoice: "none", Messages: []llm.Message{{Role: llm.RoleUser, Content: "a"}}},
		version: Version2023,
		want:    `{"model":"m","max_tokens":1024,"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stream":true}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRequest(&tt.req, tt.version)
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

func TestEncodeRequestRefused(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Content: "x"}}
	tests := []struct {
		name    string
		req     llm.Request
		version string
		field   string
	}{
		{"temperature under 2026-10-21", llm.Request{Model: "m", Messages: user, Temperature: ptr(0.0)}, Version2026, "temperature"},
		{"top_p under 2026-10-21", llm.Request{Model: "m", Messages: user, TopP: ptr(1.0)}, Version2026, "top_p"},
		{"reserved answer tool name", llm.Request{Model: "m", Messages: user, JSON: true, Tools: []llm.Tool{{Name: AnswerTool}}}, Version2023, "reserved"},
		{"no model", llm.Request{Messages: user}, Version2023, "model"},
		{"several candidates", llm.Request{Model: "m", Messages: user, Candidates: 2}, Version2023, "n=2"},
		{"empty user turn", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser}}}, Version2023, "empty"},
		{"bad tool arguments", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "f", Arguments: "{"}}}}}, Version2023, "arguments"},
		{"tool turn without id", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}}, Version2023, "tool_call_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeRequest(&tt.req, tt.version)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want one naming %q", err, tt.field)
			}
		})
	}
}

func TestDefaultTemperatureLeftOutUnder2026(t *testing.T) {
	temp := 0.7
	req := &llm.Request{Model: "claude-sonnet-4-5", MaxTokens: 10, Temperature: &temp, TemperatureIsDefault: true,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	b, err := encodeRequest(req, Version2026)
	if err != nil {
		t.Fatalf("a defaulted temperature was refused: %v", err)
	}
	if bytes.Contains(b, []byte("temperature")) {
		t.Errorf("defaulted temperature sent under 2026: %s", b)
	}
	req.TemperatureIsDefault = false
	if _, err := encodeRequest(req, Version2026); err == nil {
		t.Error("an explicit temperature was accepted under 2026")
	}
	b, err = encodeRequest(req, Version2023)
	if err != nil || !bytes.Contains(b, []byte(`"temperature":0.7`)) {
		t.Errorf("2023: %s %v", b, err)
	}
}
