package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/provider/gemini"
	"github.com/llm-connector/llm-connector/internal/provider/openai"
)

// sseUpstream answers every request in memory with one SSE body.
type sseUpstream string

func (a sseUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	return memAnswer(r, "text/event-stream", string(a), -1), nil
}

// oaSSE and geminiSSE are n-chunk streamed answers as the APIs send them.
func oaSSE(n int) string {
	var b strings.Builder
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for i := range n {
		fmt.Fprintf(&b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" word%d"},"logprobs":null,"finish_reason":null}],"usage":null}`+"\n\n", i)
	}
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	fmt.Fprintf(&b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d}}`+"\n\ndata: [DONE]\n\n", n, n+12)
	return b.String()
}

func geminiSSE(n int) string {
	var b strings.Builder
	for i := range n {
		finish := ""
		if i == n-1 {
			finish = `,"finishReason":"STOP"`
		}
		fmt.Fprintf(&b, `data: {"candidates":[{"content":{"parts":[{"text":" word%d"}],"role":"model"}%s,"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":%d,"totalTokenCount":%d},"modelVersion":"gemini-2.5-flash","responseId":"abc"}`+"\r\n\r\n", i, finish, i+1, i+6)
	}
	return b.String()
}

// BenchmarkStreamChunks is one streamed request of 200 chunks through the
// real handler stack and provider adapter, the upstream in memory: the
// service's own CPU per chunk (ns/chunk), without sockets.
func BenchmarkStreamChunks(b *testing.B) {
	const n = 200
	for _, c := range []struct {
		name, path, body string
		h                http.Handler
	}{
		{"v1-openai", "/v1/chat/completions", strings.Replace(benchOABody, `"max_tokens"`, `"stream":true,"max_tokens"`, 1),
			nonStreamServer(b, "openai", "gpt-4o-mini", openai.New(openai.Config{BaseURL: "http://upstream/v1", APIKey: "bench",
				HTTPClient: &http.Client{Transport: sseUpstream(oaSSE(n))}}))},
		{"chat-gemini", "/chat", strings.Replace(benchChatBody, `"max_tokens"`, `"stream":true,"max_tokens"`, 1),
			nonStreamServer(b, "google", "gemini-2.5-flash", gemini.New(gemini.Config{BaseURL: "http://upstream", APIKey: "bench",
				HTTPClient: &http.Client{Transport: sseUpstream(geminiSSE(n))}}))},
	} {
		b.Run(c.name, func(b *testing.B) {
			postLoop(b, c.h, c.path, c.body, "word199")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/chunk")
		})
	}
}
