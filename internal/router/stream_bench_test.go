package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/provider/openai"
)

// benchChunks is the number of text deltas of streamBody.
const benchChunks = 200

// streamBody is a benchChunks-delta answer in OpenAI's exact framing.
func streamBody() []byte {
	var b bytes.Buffer
	const head = `data: {"id":"chatcmpl-AbCdEf0123456789","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0123456789",`
	b.WriteString(head + `"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for i := range benchChunks {
		fmt.Fprintf(&b, head+`"choices":[{"index":0,"delta":{"content":" token%d"},"logprobs":null,"finish_reason":null}],"usage":null}`+"\n\n", i%10)
	}
	b.WriteString(head + `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(head + `"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":200,"total_tokens":220,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// bodyTransport answers every request with one event-stream body, in
// memory: the benchmark measures the chain, not the loopback.
type bodyTransport struct{ body []byte }

func (t bodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(t.body)),
		Request:    req,
	}, nil
}

// BenchmarkStreamOpenAI streams a 200-delta answer through the real
// OpenAI adapter and the router (default policy, real clock, a trace):
// the per-chunk cost of the chain below the HTTP server.
func BenchmarkStreamOpenAI(b *testing.B) {
	c := openai.New(openai.Config{BaseURL: "http://upstream.invalid/v1", HTTPClient: &http.Client{Transport: bodyTransport{streamBody()}}})
	r := New([]Target{{Name: "openai/m", Provider: "openai", Model: "gpt-4o-mini", P: c, Retries: -1}}, DefaultPolicy(), nil)
	req := testRequest()
	ctx := context.Background()
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		n := 0
		for _, err := range r.Stream(llm.WithTrace(ctx, &llm.Trace{}), req) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchChunks+1 {
			b.Fatalf("got %d chunks", n)
		}
	}
	runtime.ReadMemStats(&m1)
	chunks := float64(b.N * benchChunks)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/chunks, "ns/chunk")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/chunks, "allocs/chunk")
}

// BenchmarkWatchdogChunk is the watchdog's cost per chunk handed over
// (pause, resume), default limits, real clock.
func BenchmarkWatchdogChunk(b *testing.B) {
	var w watchdog
	w.start(realClock{}, func(error) {}, 30*time.Second, 30*time.Second)
	defer w.stop()
	w.gotContent()
	w.resume()
	for b.Loop() {
		w.pause()
		w.resume()
	}
}
