package ollama

import (
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// TestStreamTooLarge is issue 18 item 9 for NDJSON: a stream of lines,
// each within the line bound, that never ends is cut with a clear
// KindUpstream error (502) once the whole answer passes its bound.
func TestStreamTooLarge(t *testing.T) {
	line := `{"model":"tiny","message":{"role":"assistant","content":"` + strings.Repeat("x", 100000) + `"},"done":false}` + "\n"
	var got error
	err := decodeStream(llmtest.Repeat("", line, 40<<20/len(line)), func(_ llm.Chunk, err error) bool {
		got = err
		return err == nil
	})
	if err != nil {
		got = err
	}
	llmtest.CheckTooLarge(t, got)
}
