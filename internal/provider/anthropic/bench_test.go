package anthropic

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// benchStream is a 100-delta answer in Anthropic's exact framing.
func benchStream() []byte {
	var b strings.Builder
	b.WriteString(start)
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	b.WriteString("event: ping\ndata: {\"type\": \"ping\"}\n\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":%q}}\n\n", " token")
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":100}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return []byte(b.String())
}

func BenchmarkDecodeStream(b *testing.B) {
	body := benchStream()
	c := New(Config{})
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		c.decodeStream(ctx, bytes.NewReader(body), func(ch llm.Chunk, err error) bool {
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

func BenchmarkEncodeRequest(b *testing.B) {
	req := llmtest.ConformanceRequest("claude-haiku-4-5")
	req.Tools = []llm.Tool{llmtest.WeatherTool}
	for i := 0; i < 5; i++ {
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleAssistant, Content: strings.Repeat("An answer of some length. ", 8)},
			llm.Message{Role: llm.RoleUser, Content: strings.Repeat("A follow-up question. ", 6)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeRequest(req, Version2023); err != nil {
			b.Fatal(err)
		}
	}
}
