package ollama

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// TestStructuredAndImagesMapping: Schema → format: <schema>, JSON →
// format: "json", images → base64 "images" of the message.
func TestStructuredAndImagesMapping(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)
	user := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	tests := []struct {
		name  string
		req   llm.Request
		field string
		want  any
	}{
		{"schema", llm.Request{Messages: user, Schema: &llm.Schema{Name: "x", Schema: schema}}, "format",
			map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}}},
		{"schema without a body", llm.Request{Messages: user, Schema: &llm.Schema{Name: "x"}}, "format", "json"},
		{"json", llm.Request{Messages: user, JSON: true}, "format", "json"},
		{"neither", llm.Request{Messages: user}, "format", nil},
		{"image", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "what?", Images: []llm.Image{{MIMEType: "image/png", Data: []byte("abc")}}}}}, "messages",
			[]any{map[string]any{"role": "user", "content": "what?", "images": []any{"YWJj"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Model = "llava"
			w, err := toWire(&tt.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, llmtest.JSONField(t, b, tt.field)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.field, diff)
			}
		})
	}
}

// TestImagesRefusedForTextModel: the real server's "tiny" lists no
// "vision" capability (and would silently drop the image), so the
// adapter refuses with a 400-kind error naming the backend, asking
// /api/show once per model.
func TestImagesRefusedForTextModel(t *testing.T) {
	f := fakeollama.New(t)
	f.AddModel(fakeollama.VisionModel)
	c := newClient(t, f.URL)
	req := &llm.Request{Model: "tiny", MaxTokens: 5, Messages: []llm.Message{{Role: llm.RoleUser, Content: "what?",
		Images: []llm.Image{{MIMEType: "image/png", Data: []byte("abc")}}}}}
	for range 2 {
		_, err := llm.Collect(c.Stream(context.Background(), req))
		if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), "ollama") || !strings.Contains(err.Error(), "does not accept images") {
			t.Fatalf("err = %v, want invalid naming ollama and images", err)
		}
	}
	count := map[string]int{}
	for _, r := range f.Requests() {
		count[r.Path]++
	}
	if count["/api/show"] != 1 || count["/api/chat"] != 0 {
		t.Errorf("requests %v, want one /api/show and no /api/chat", count)
	}
	req.Model = fakeollama.VisionModel
	if _, err := llm.Collect(c.Stream(context.Background(), req)); err != nil {
		t.Fatalf("vision model: %v", err)
	}
	if got := f.LastChat().Messages[0].Images; len(got) != 1 || string(got[0]) != "abc" {
		t.Errorf("images sent = %q", got)
	}
}

// TestRealSchema: the real server constrains tiny's answer with the
// schema in "format": the answer is JSON with the required fields (a
// boolean and an enum: tiny's grammar-constrained answer closes in a few
// tokens; a free string would run on).
func TestRealSchema(t *testing.T) {
	c := realClient(t)
	req := &llm.Request{Model: "tiny", MaxTokens: 100, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
		Schema: &llm.Schema{Name: "n", Schema: json.RawMessage(`{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","enum":[1,2]}},"required":["ok","n"]}`)}}
	resp, err := llm.Collect(c.Stream(realCtx(t), req))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		OK *bool `json:"ok"`
		N  int   `json:"n"`
	}
	if err := json.Unmarshal([]byte(resp.Text), &v); err != nil || v.OK == nil || (v.N != 1 && v.N != 2) {
		t.Fatalf("answer %q is not the schema's object: %v", resp.Text, err)
	}
}

func TestCandidatesRefused(t *testing.T) {
	_, err := toWire(&llm.Request{Model: "tiny", Candidates: 2, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
	if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), "ollama") || !strings.Contains(err.Error(), "n=2") {
		t.Fatalf("err = %v", err)
	}
}
