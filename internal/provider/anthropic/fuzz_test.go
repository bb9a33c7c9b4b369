package anthropic

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// FuzzDecodeStream: any upstream body ends in exactly one of a final
// chunk or an error, and never panics.
func FuzzDecodeStream(f *testing.F) {
	f.Add(string(benchStream()))
	f.Add("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":9,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\nevent: message_stop\ndata: {}\n\n")
	f.Add("event: error\ndata: {\"type\":\"error\"}\n\n")
	f.Fuzz(func(t *testing.T, body string) {
		c := New(Config{})
		ends := 0
		c.decodeStream(context.Background(), strings.NewReader(body), func(ch llm.Chunk, err error) bool {
			if err != nil || ch.Delta == "" {
				ends++
			}
			return true
		})
		if ends != 1 {
			t.Fatalf("%d ends", ends)
		}
	})
}
