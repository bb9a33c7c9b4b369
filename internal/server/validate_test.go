package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// /v1 refuses what it would otherwise forward or silently replace
// (issue 18 item 14), with a 400 naming the field, in OpenAI's shape,
// and never naming a Go type.
func TestOpenAIValidationGaps(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tool := func(name, params string) string {
		return `"tools":[{"type":"function","function":{"name":"` + name + `","parameters":` + params + `}}]`
	}
	tests := []struct {
		name, body, param, msg string
	}{
		{"max_tokens 0", `{"model":"m",` + msgs + `,"max_tokens":0}`, "max_tokens", "between 1 and 65536"},
		{"max_completion_tokens 0", `{"model":"m",` + msgs + `,"max_completion_tokens":0}`, "max_completion_tokens", "between 1 and 65536"},
		{"parameters a string", `{"model":"m",` + msgs + `,` + tool("f", `"not an object"`) + `}`, "tools[0].function.parameters", "JSON Schema object"},
		{"parameters an array", `{"model":"m",` + msgs + `,` + tool("f", `[1,2]`) + `}`, "tools[0].function.parameters", "JSON Schema object"},
		{"parameters of another type", `{"model":"m",` + msgs + `,` + tool("f", `{"type":"nonsense"}`) + `}`, "tools[0].function.parameters", `"type": "object"`},
		{"tool name with a space", `{"model":"m",` + msgs + `,` + tool("get weather", `{"type":"object"}`) + `}`, "tools[0].function.name", "a-zA-Z0-9_-"},
		{"tool name with a slash", `{"model":"m",` + msgs + `,` + tool("a/b", `{"type":"object"}`) + `}`, "tools[0].function.name", "a-zA-Z0-9_-"},
		{"tool name too long", `{"model":"m",` + msgs + `,` + tool(strings.Repeat("x", 65), `{"type":"object"}`) + `}`, "tools[0].function.name", "64"},
		{"tool_choice undeclared", `{"model":"m",` + msgs + `,` + tool("f", `{"type":"object"}`) + `,"tool_choice":{"type":"function","function":{"name":"g"}}}`, "tool_choice", `"g"`},
		{"wrong type names no Go type", `{"model":"m","messages":"hi"}`, "messages", "expected array"},
		{"empty body names /v1 fields", ``, "", `"messages"`},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := h.post(t, "/v1/chat/completions", tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
			}
			var e struct {
				Error oaError `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if tc.param != "" && (e.Error.Param == nil || *e.Error.Param != tc.param) {
				t.Errorf("param = %v, want %q (%s)", e.Error.Param, tc.param, b)
			}
			if !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("message %q lacks %q", e.Error.Message, tc.msg)
			}
			for _, goType := range []string{"server.", "[]", "json.RawMessage", "prompt"} {
				if strings.Contains(e.Error.Message, goType) {
					t.Errorf("message %q names %q", e.Error.Message, goType)
				}
			}
		})
	}
}
