package openai

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/llmtest"
)

// benchStream is a 100-delta answer in OpenAI's exact framing.
func benchStream() []byte {
	var b strings.Builder
	chunk := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":%q},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	fmt.Fprintf(&b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`+"\n\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, chunk, " token")
	}
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":100,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
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

func benchRequest() *llm.Request {
	req := llmtest.ConformanceRequest("gpt-4o-mini")
	req.Tools = []llm.Tool{llmtest.WeatherTool}
	for i := 0; i < 5; i++ {
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleAssistant, Content: strings.Repeat("An answer of some length. ", 8)},
			llm.Message{Role: llm.RoleUser, Content: strings.Repeat("A follow-up question. ", 6)})
	}
	return req
}

func BenchmarkEncodeRequest(b *testing.B) {
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeRequest(req, MaxCompletionTokens); err != nil {
			b.Fatal(err)
		}
	}
}
