package gemini

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/llm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func ptr[T any](v T) *T { return &v }

// fullRequest uses every field the adapter maps.
func fullRequest() *llm.Request {
	return &llm.Request{
		Model:  "gemini-2.5-flash",
		System: "You are terse.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "Weather in Paris and Rome?"},
			{Role: llm.RoleAssistant, Content: "Checking.", ToolCalls: []llm.ToolCall{
				{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Paris"}`},
				{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Rome"}`},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_0", Content: `{"temp_c":18}`},
			{Role: llm.RoleTool, ToolCallID: "call_1", Content: "sunny, 24C"},
			{Role: llm.RoleAssistant, Content: ""}, // dropped: Gemini rejects empty parts
			{Role: llm.RoleUser, Content: "Thanks. As JSON please."},
		},
		MaxTokens:   256,
		Temperature: ptr(0.7),
		TopP:        ptr(0.9),
		Stop:        []string{"END"},
		Seed:        ptr(int64(42)),
		JSON:        true,
		Tools: []llm.Tool{{
			Name: "get_weather", Description: "Current weather for a city",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`),
		}},
		ToolChoice:     "get_weather",
		ThinkingBudget: ptr(1024),
	}
}

func TestEncodeGolden(t *testing.T) {
	basic := &llm.Request{Model: "gemini-2.5-flash", System: "Be brief.", MaxTokens: 64, Temperature: ptr(0.2),
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "Say hello"}}}
	noThinking := basic.Clone()
	noThinking.Model = "tunedModels/xyz"
	noThinking.MaxTokens = 0
	noThinking.Temperature = nil
	tests := []struct {
		name   string
		budget int
		req    *llm.Request
	}{
		{"basic", 0, basic},
		{"full", 0, fullRequest()},
		{"dynamic", ThinkingDynamic, basic},
		{"pro", 0, func() *llm.Request { r := basic.Clone(); r.Model = "models/gemini-2.5-pro"; return r }()},
		{"tuned-no-options", 0, noThinking},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{APIKey: "k", ThinkingBudget: tt.budget})
			body, err := c.encode(tt.req)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, body, "", "  "); err != nil {
				t.Fatalf("indent: %v", err)
			}
			got.WriteByte('\n')
			golden(t, filepath.Join("testdata", "request-"+tt.name+".json"), got.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func TestEncodeInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *llm.Request)
	}{
		{"no messages", func(r *llm.Request) { r.Messages = nil }},
		{"only empty messages", func(r *llm.Request) { r.Messages = []llm.Message{{Role: llm.RoleUser}} }},
		{"unknown role", func(r *llm.Request) { r.Messages[0].Role = "system" }},
		{"orphan tool result", func(r *llm.Request) {
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleTool, ToolCallID: "nope", Content: "x"})
		}},
		{"bad call arguments", func(r *llm.Request) {
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "a", Name: "f", Arguments: "{"}}})
		}},
		{"bad tool schema", func(r *llm.Request) { r.Tools = []llm.Tool{{Name: "f", Parameters: json.RawMessage("{")}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
			tt.edit(r)
			_, err := New(Config{}).encode(r)
			if llm.KindOf(err) != llm.KindInvalid {
				t.Fatalf("err = %v (kind %v), want invalid_request", err, llm.KindOf(err))
			}
		})
	}
}

func TestToolConfig(t *testing.T) {
	tests := []struct {
		choice string
		want   *toolConfig
	}{
		{"", nil},
		{"auto", &toolConfig{functionCallingConfig{Mode: "AUTO"}}},
		{"none", &toolConfig{functionCallingConfig{Mode: "NONE"}}},
		{"required", &toolConfig{functionCallingConfig{Mode: "ANY"}}},
		{"lookup", &toolConfig{functionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{"lookup"}}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, toToolConfig(tt.choice)); diff != "" {
			t.Errorf("toToolConfig(%q) (-want +got):\n%s", tt.choice, diff)
		}
	}
}

func TestModelPath(t *testing.T) {
	tests := []struct {
		model, want string
		ok          bool
	}{
		{"gemini-2.5-flash", "models/gemini-2.5-flash", true},
		{"models/gemini-2.5-flash", "models/gemini-2.5-flash", true},
		{"tunedModels/xyz-123", "tunedModels/xyz-123", true},
		{"", "", false},
		{"models/", "", false},
		{"../v1/x", "", false},
		{"a/b", "", false},
		{"x?key=1", "", false},
		{"x:generateContent", "", false},
		{"gemini 2", "models/gemini%202", true},
	}
	for _, tt := range tests {
		got, err := modelPath(tt.model)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("modelPath(%q) = %q, %v; want %q, ok %v", tt.model, got, err, tt.want, tt.ok)
		}
	}
}

func TestBudgetPlan(t *testing.T) {
	tests := []struct {
		name       string
		model      string
		maxTokens  int
		budget     int
		wantBudget *int // nil: no thinkingConfig
		wantMax    int
	}{
		{"flash off", "gemini-2.5-flash", 64, 0, ptr(0), 64},
		{"flash budget adds", "gemini-2.5-flash", 64, 1024, ptr(1024), 1088},
		{"flash dynamic adds headroom", "gemini-2.5-flash", 64, -1, ptr(-1), 64 + DynamicThinkingHeadroom},
		{"any negative is dynamic", "gemini-2.5-flash", 64, -7, ptr(-1), 64 + DynamicThinkingHeadroom},
		{"pro cannot turn off", "models/gemini-2.5-pro", 100, 0, ptr(128), 228},
		{"pro explicit budget", "gemini-2.5-pro", 100, 2048, ptr(2048), 2148},
		{"no max tokens keeps model default", "gemini-2.5-flash", 0, 512, ptr(512), 0},
		{"sum is capped", "gemini-2.5-flash", 60000, 24576, ptr(24576), 65536},
		{"non-thinking model, off", "gemini-2.0-flash", 64, 0, nil, 64},
		{"tuned model, off", "tunedModels/abc", 64, 0, nil, 64},
		{"non-thinking model, explicit budget kept", "gemini-2.0-flash", 64, 256, ptr(256), 320},
		{"flash alias", "gemini-flash-latest", 64, 0, ptr(0), 64},
		{"pro alias", "gemini-pro-latest", 64, 0, ptr(128), 192},
		{"2.0 thinking experiment", "gemini-2.0-flash-thinking-exp", 64, 0, ptr(0), 64},
		{"gemini 1.5", "gemini-1.5-flash", 64, 0, nil, 64},
		{"gemma", "gemma-3-27b-it", 64, 0, nil, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, maxOut := budgetPlan(tt.model, tt.maxTokens, tt.budget)
			var got *int
			if tc != nil {
				got = tc.ThinkingBudget
			}
			if diff := cmp.Diff(tt.wantBudget, got); diff != "" || maxOut != tt.wantMax {
				t.Errorf("budget (-want +got): %s; maxOutputTokens = %d, want %d", diff, maxOut, tt.wantMax)
			}
		})
	}
}

func TestRequestBudgetOverridesConfig(t *testing.T) {
	c := New(Config{ThinkingBudget: 2000})
	req := &llm.Request{Model: "gemini-2.5-flash", MaxTokens: 10, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	w, err := toWire(req, c.think)
	if err != nil {
		t.Fatal(err)
	}
	if g := w.GenerationConfig; *g.ThinkingConfig.ThinkingBudget != 2000 || g.MaxOutputTokens != 2010 {
		t.Errorf("config budget: %+v %+v", g, g.ThinkingConfig)
	}
	req.ThinkingBudget = ptr(0)
	if w, err = toWire(req, c.think); err != nil {
		t.Fatal(err)
	}
	if g := w.GenerationConfig; *g.ThinkingConfig.ThinkingBudget != 0 || g.MaxOutputTokens != 10 {
		t.Errorf("request override: %+v %+v", g, g.ThinkingConfig)
	}
}
