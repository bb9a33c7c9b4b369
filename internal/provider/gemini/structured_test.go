package gemini

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestStructuredAndImagesMapping: Schema → responseMimeType +
// responseJsonSchema, JSON → responseMimeType, Candidates →
// candidateCount, images → inlineData parts.
func TestStructuredAndImagesMapping(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`)
	user := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	tests := []struct {
		name string
		req  llm.Request
		path []string
		want any
	}{
		{"schema mime", llm.Request{Messages: user, Schema: &llm.Schema{Name: "x", Schema: schema, Strict: true}}, []string{"generationConfig", "responseMimeType"}, "application/json"},
		{"schema as JSON Schema", llm.Request{Messages: user, Schema: &llm.Schema{Name: "x", Schema: schema}}, []string{"generationConfig", "responseJsonSchema"},
			map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}, "additionalProperties": false}},
		{"never the OpenAPI subset", llm.Request{Messages: user, Schema: &llm.Schema{Name: "x", Schema: schema}}, []string{"generationConfig", "responseSchema"}, nil},
		{"json mode", llm.Request{Messages: user, JSON: true}, []string{"generationConfig", "responseMimeType"}, "application/json"},
		{"json mode has no schema", llm.Request{Messages: user, JSON: true}, []string{"generationConfig", "responseJsonSchema"}, nil},
		{"candidates", llm.Request{Messages: user, Candidates: 4}, []string{"generationConfig", "candidateCount"}, 4.0},
		{"image", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "what?", Images: []llm.Image{{MIMEType: "image/jpeg", Data: []byte{0xff, 0xd8, 0xff}}}}}},
			[]string{"contents"}, []any{map[string]any{"role": "user", "parts": []any{
				map[string]any{"text": "what?"},
				map[string]any{"inlineData": map[string]any{"mimeType": "image/jpeg", "data": "/9j/"}},
			}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Model = "gemini-2.5-flash"
			w, err := toWire(&tt.req, thinking{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(w)
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.path {
				v, _ = v.(map[string]any)[k]
			}
			if diff := cmp.Diff(tt.want, v); diff != "" {
				t.Errorf("%v (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}
