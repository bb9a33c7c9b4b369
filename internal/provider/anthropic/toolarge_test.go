package anthropic

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
	chunk := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" +
		strings.Repeat("x", 100000) + "\"}}\n\n"
	for name, body := range map[string]func() io.Reader{
		"event":  llmtest.OversizedEvent,
		"stream": func() io.Reader { return llmtest.Repeat("", chunk, 40<<20/len(chunk)) },
	} {
		t.Run(name, func(t *testing.T) {
			c := New(Config{})
			var got error
			c.decodeStream(context.Background(), body(), func(_ llm.Chunk, err error) bool {
				got = err
				return err == nil
			})
			llmtest.CheckTooLarge(t, got)
		})
	}
}
