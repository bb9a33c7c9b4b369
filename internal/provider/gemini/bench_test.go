package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func BenchmarkEncodeRequest(b *testing.B) {
	c := New(Config{APIKey: "k"})
	req := fullRequest()
	for i := range 10 {
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleAssistant, Content: fmt.Sprintf("Answer %d with some typical length of prose in it.", i)},
			llm.Message{Role: llm.RoleUser, Content: fmt.Sprintf("Follow-up question number %d, also of typical length.", i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.encode(req); err != nil {
			b.Fatal(err)
		}
	}
}

// streamBody is an SSE body of n text chunks and a final one, as Gemini
// sends it (CRLF framing, usage snapshot on every chunk).
func streamBody(n int) []byte {
	var buf bytes.Buffer
	for i := range n {
		r := map[string]any{
			"candidates":    []any{map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": "token text of a chunk "}}}, "index": 0}},
			"usageMetadata": map[string]any{"promptTokenCount": 120, "candidatesTokenCount": i * 5, "totalTokenCount": 120 + i*5},
			"modelVersion":  "gemini-2.5-flash", "responseId": "AdVRabcdef",
		}
		if i == n-1 {
			r["candidates"].([]any)[0].(map[string]any)["finishReason"] = "STOP"
		}
		b, _ := json.Marshal(r)
		buf.WriteString("data: ")
		buf.Write(b)
		buf.WriteString("\r\n\r\n")
	}
	return buf.Bytes()
}

func BenchmarkDecodeStream(b *testing.B) {
	body := streamBody(100)
	c := New(Config{APIKey: "k"})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		c.relay(context.Background(), bytes.NewReader(body), newDecoder("gemini-2.5-flash", c.errors()), func(ch llm.Chunk, err error) bool {
			if err != nil {
				b.Fatal(err)
			}
			n++
			return true
		})
		if n != 101 {
			b.Fatalf("%d chunks", n)
		}
	}
}
