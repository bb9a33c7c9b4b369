package server

import (
	"io"
	"testing"

	"github.com/llm-connector/llm-connector/internal/gateway"
	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/sse"
)

// The new surfaces' edge cost, beside BenchmarkDecodeOpenAI: the same
// conversation decoded from a Responses and an embeddings body, and a
// three-delta answer written as Responses events.

func BenchmarkDecodeResponses(b *testing.B) {
	body := []byte(`{"model":"google/gemini-2.5-flash","instructions":"be brief","input":[{"role":"user","content":"hello there"}],"max_output_tokens":100,"temperature":0.5}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, f := decodeResponses(body); f != nil {
			b.Fatal(f.err.Message)
		}
	}
}

func BenchmarkDecodeEmbeddings(b *testing.B) {
	body := []byte(`{"model":"google/gemini-embedding-001","input":["hello there","general kenobi"],"dimensions":768}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, f := decodeEmbeddings(body); f != nil {
			b.Fatal(f.err.Message)
		}
	}
}

func BenchmarkResponsesEvents(b *testing.B) {
	res := &gateway.Result{Response: llm.Response{Text: "Hello, world", Usage: llm.Usage{InputTokens: 10, OutputTokens: 3}}}
	r := &rsRequest{Model: "m"}
	b.ReportAllocs()
	for b.Loop() {
		sw := sse.NewWriter(io.Discard)
		ev := newRSEvents("resp_x", r, 1)
		for _, d := range []string{"Hello", ", ", "world"} {
			if err := ev.chunk(sw, llm.Chunk{Delta: d}); err != nil {
				b.Fatal(err)
			}
		}
		if err := ev.done(sw, res, ""); err != nil {
			b.Fatal(err)
		}
	}
}
