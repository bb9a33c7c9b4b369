package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestDecodeStructuredAndImages: response_format and image_url parts map
// to Request.JSON / Schema and Message.Images; the rest is a 400 naming
// the parameter.
func TestDecodeStructuredAndImages(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name   string
		body   string
		check  func(r *llm.Request) any
		want   any
		param  string // a refusal naming this parameter
		detail string
	}{
		{name: "json_schema as openai-go parse() sends it",
			body:  `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"Point","strict":true,"description":"a point","schema":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}}}}`,
			check: func(r *llm.Request) any { return *r.Schema },
			want:  llm.Schema{Name: "Point", Strict: true, Schema: json.RawMessage(`{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}`)}},
		{name: "json_schema without a schema", body: `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"any"}}}`,
			check: func(r *llm.Request) any { return *r.Schema }, want: llm.Schema{Name: "any"}},
		{name: "json_object", body: `{"model":"m",` + msgs + `,"response_format":{"type":"json_object"}}`,
			check: func(r *llm.Request) any { return [2]bool{r.JSON, r.Schema == nil} }, want: [2]bool{true, true}},
		{name: "text", body: `{"model":"m",` + msgs + `,"response_format":{"type":"text"}}`,
			check: func(r *llm.Request) any { return [2]bool{r.JSON, r.Schema == nil} }, want: [2]bool{false, true}},
		{name: "image parts",
			body:  `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what "},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"high"}},{"type":"text","text":"is it?"},{"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}}]}]}`,
			check: func(r *llm.Request) any { return r.Messages[0] },
			want:  llm.Message{Role: llm.RoleUser, Content: "what is it?", Images: []llm.Image{{URL: "data:image/png;base64,AAAA"}, {URL: "https://example.com/a.jpg"}}}},
		{name: "unknown format type", body: `{"model":"m",` + msgs + `,"response_format":{"type":"yaml"}}`, param: "response_format.type", detail: "json_schema"},
		{name: "json_schema without json_schema", body: `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema"}}`, param: "response_format.json_schema"},
		{name: "bad schema name", body: `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"a b"}}}`, param: "response_format.json_schema.name"},
		{name: "schema not an object", body: `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":[1]}}}`, param: "response_format.json_schema.schema"},
		{name: "image in a system message", body: `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]},{"role":"user","content":"hi"}]}`, param: "messages[0].content[0]"},
		{name: "image without a url", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, param: "messages[0].content[0].image_url.url"},
		{name: "bad detail", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:x","detail":"max"}}]}]}`, param: "messages[0].content[0].image_url.detail"},
		{name: "audio part", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, param: "messages[0].content[0]", detail: "input_audio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, req, fail := decodeOA([]byte(tt.body))
			if tt.param != "" {
				if fail == nil || fail.err.Param == nil || *fail.err.Param != tt.param || !strings.Contains(fail.err.Message, tt.detail) {
					t.Fatalf("fail = %+v, want a 400 naming %s", fail, tt.param)
				}
				return
			}
			if fail != nil {
				t.Fatalf("refused: %s", fail.err.Message)
			}
			if diff := cmp.Diff(tt.want, tt.check(req)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
