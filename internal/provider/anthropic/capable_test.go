package anthropic

import (
	"context"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// TestAccepts: the Messages API answers one candidate: n > 1 is refused
// before sending; images and n=1 pass.
func TestAccepts(t *testing.T) {
	c := New(Config{APIKey: "k"})
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "what?", Images: []llm.Image{{MIMEType: "image/png", Data: []byte("abc")}}}}
	for _, n := range []int{0, 1, 2} {
		err := c.Accepts(context.Background(), &llm.Request{Model: "claude", Messages: msgs, Candidates: n})
		if refused := err != nil; refused != (n > 1) {
			t.Errorf("n=%d: Accepts = %v", n, err)
		}
		if err != nil && llm.DetailOf(err) != llm.DetailUnsupported {
			t.Errorf("n=%d: refusal %v lacks DetailUnsupported", n, err)
		}
	}
}
