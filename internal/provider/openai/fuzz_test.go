package openai

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
	f.Add("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":3,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\ndata: [DONE]\n\n")
	f.Add("data: {\"error\":{\"message\":\"x\",\"code\":429}}\n\n")
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
