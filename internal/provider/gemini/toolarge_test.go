package gemini

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// TestStreamTooLarge is issue 18 item 9: an event of many data: lines and
// an endless stream end in a clear KindUpstream error (502).
func TestStreamTooLarge(t *testing.T) {
	chunk := `data: {"candidates":[{"content":{"parts":[{"text":"` + strings.Repeat("x", 100000) +
		`"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash"}` + "\r\n\r\n"
	for name, body := range map[string]func() io.Reader{
		"event":  llmtest.OversizedEvent,
		"stream": func() io.Reader { return llmtest.Repeat("", chunk, 40<<20/len(chunk)) },
	} {
		t.Run(name, func(t *testing.T) {
			c := New(Config{APIKey: "k"})
			var got error
			c.relay(context.Background(), body(), newDecoder("gemini-2.5-flash", c.errors()), func(_ llm.Chunk, err error) bool {
				got = err
				return err == nil
			})
			llmtest.CheckTooLarge(t, got)
		})
	}
}
