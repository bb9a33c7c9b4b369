package ollama

import (
	"context"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// TestAccepts: Accepts refuses, before sending, n > 1 and images for a
// model without "vision" (the router then skips the target); a vision
// model and a plain request pass; an unreachable /api/show says nothing
// about the model and passes (the attempt meets the failure).
func TestAccepts(t *testing.T) {
	f := fakeollama.New(t)
	f.AddModel(fakeollama.VisionModel)
	c := newClient(t, f.URL)
	img := []llm.Message{{Role: llm.RoleUser, Content: "what?", Images: []llm.Image{{MIMEType: "image/png", Data: []byte("abc")}}}}
	text := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	tests := []struct {
		name   string
		req    llm.Request
		refuse bool
	}{
		{"text", llm.Request{Model: "tiny", Messages: text}, false},
		{"n=2", llm.Request{Model: "tiny", Messages: text, Candidates: 2}, true},
		{"image to a text model", llm.Request{Model: "tiny", Messages: img}, true},
		{"image to a vision model", llm.Request{Model: fakeollama.VisionModel, Messages: img}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Accepts(context.Background(), &tt.req)
			if (err != nil) != tt.refuse {
				t.Fatalf("Accepts = %v, want refused %v", err, tt.refuse)
			}
			if err != nil && (llm.KindOf(err) != llm.KindInvalid || llm.DetailOf(err) != llm.DetailUnsupported) {
				t.Fatalf("refusal %v: want KindInvalid with DetailUnsupported", err)
			}
		})
	}
	down := newClient(t, "http://127.0.0.1:1")
	if err := down.Accepts(context.Background(), &llm.Request{Model: "tiny", Messages: img}); err != nil {
		t.Fatalf("unreachable server: Accepts = %v, want nil (the attempt reports it)", err)
	}
}
