package ollama

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakeollama"
)

// TestEmbed: /api/embed against the fake and, when it runs, the real
// Ollama (tiny: 64-dimension basis vectors): vectors in order,
// dimensions truncating, prompt_eval_count as usage, an unknown model a
// NotFound naming it.
func TestEmbed(t *testing.T) {
	f := fakeollama.New(t)
	hosts := map[string]string{"fake": f.URL}
	if u := os.Getenv(fakeollama.RealEnv); u != "" {
		hosts["real"] = u
	}
	for name, host := range hosts {
		c := newClient(t, host)
		resp, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "tiny", Inputs: []string{"hello", "world"}, Dimensions: 8})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(resp.Vectors) != 2 || len(resp.Vectors[0]) != 8 || resp.Usage.InputTokens == 0 || resp.Model != "tiny" {
			t.Errorf("%s: %+v", name, resp)
		}
		full, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "tiny", Inputs: []string{"hello"}})
		if err != nil || len(full.Vectors[0]) != fakeollama.EmbedDims {
			t.Errorf("%s: default length: %v", name, err)
		}
		_, err = c.Embed(context.Background(), &llm.EmbedRequest{Model: "not-pulled", Inputs: []string{"x"}})
		if llm.KindOf(err) != llm.KindNotFound || !strings.Contains(llm.PublicMessage(err), "ollama pull not-pulled") {
			t.Errorf("%s: unknown model: %v", name, err)
		}
	}
}
