package openai

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// TestStructuredAndImagesMapping: Schema → response_format json_schema,
// JSON → json_object, Candidates → n, images → image_url data URLs.
func TestStructuredAndImagesMapping(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`)
	png := []byte("\x89PNG\r\n\x1a\nrest")
	user := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	tests := []struct {
		name  string
		req   llm.Request
		field string
		want  any
	}{
		{"schema strict", llm.Request{Messages: user, Schema: &llm.Schema{Name: "pt", Schema: schema, Strict: true}}, "response_format",
			map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "pt", "strict": true,
				"schema": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}, "required": []any{"a"}}}}},
		{"schema without a name", llm.Request{Messages: user, Schema: &llm.Schema{Schema: json.RawMessage(`{"type":"object"}`)}}, "response_format",
			map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "response", "schema": map[string]any{"type": "object"}}}},
		{"json object", llm.Request{Messages: user, JSON: true}, "response_format", map[string]any{"type": "json_object"}},
		{"schema wins over json", llm.Request{Messages: user, JSON: true, Schema: &llm.Schema{Name: "x", Schema: json.RawMessage(`{}`)}}, "response_format",
			map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "x", "schema": map[string]any{}}}},
		{"neither", llm.Request{Messages: user}, "response_format", nil},
		{"candidates", llm.Request{Messages: user, Candidates: 3}, "n", 3.0},
		{"one candidate sends no n", llm.Request{Messages: user, Candidates: 1}, "n", nil},
		{"image", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "what is it?", Images: []llm.Image{{MIMEType: "image/png", Data: png}}}}}, "messages",
			[]any{map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "what is it?"},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw0KGgpyZXN0"}},
			}}}},
		{"image only", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Images: []llm.Image{{MIMEType: "image/png", Data: png}}}}}, "messages",
			[]any{map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw0KGgpyZXN0"}},
			}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Model = "gpt-4o-mini"
			b, err := encodeRequest(&tt.req, MaxCompletionTokens)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, llmtest.JSONField(t, b, tt.field)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.field, diff)
			}
		})
	}
}

func TestImageWithoutDataRefused(t *testing.T) {
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x", Images: []llm.Image{{URL: "https://example.com/a.png"}}}}}
	if _, err := encodeRequest(req, MaxTokens); err == nil {
		t.Fatal("an image the gateway did not inline was sent")
	}
}
