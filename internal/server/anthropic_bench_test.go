package server

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// Benchmarks of the Anthropic surface: its decoder, its event encoder,
// and a whole request in process, next to /chat's and /v1's
// (BenchmarkDecodeChat, BenchmarkDecodeOpenAI, BenchmarkChatInProcess).
//
//	go test -run='^$' -bench='Anthropic|ChatInProcess' -benchmem ./internal/server

const benchAnBody = `{"model":"google/gemini-2.5-flash","max_tokens":100,"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hello there"}],"temperature":0.5,"stream":false}`

func BenchmarkDecodeAnthropic(b *testing.B) {
	body := []byte(benchAnBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, f := DecodeAnthropic(body, false); f != nil {
			b.Fatal(f.msg)
		}
	}
}

// BenchmarkAnthropicStreamEncode is the cost of one answer of 20 text
// deltas as Anthropic events: message_start, ping, a text block, the
// message_delta and message_stop.
func BenchmarkAnthropicStreamEncode(b *testing.B) {
	r := httptest.NewRequest("POST", "/v1/messages", nil)
	u := &llm.Usage{InputTokens: 20, OutputTokens: 1}
	res := &gateway.Result{Response: llm.Response{FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 20, OutputTokens: 20}}}
	sw := sse.NewWriter(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		ev := &anEvents{id: "msg_1", model: "m", r: r}
		for i := range 20 {
			c := llm.Chunk{Delta: "word "}
			if i == 0 {
				c.Usage, c.Model = u, "gemini-2.5-flash"
			}
			if err := ev.chunk(sw, c); err != nil {
				b.Fatal(err)
			}
		}
		if err := ev.done(sw, res, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnthropicInProcess is BenchmarkChatInProcess for
// /v1/messages: decode, route, router, gateway, encode, log line.
func BenchmarkAnthropicInProcess(b *testing.B) {
	h := benchServer(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(benchAnBody))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
