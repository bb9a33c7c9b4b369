package ollama

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// benchStream is a recorded-shape answer of n text lines and a done line.
func benchStream(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"model":"tiny","created_at":"2026-11-25T23:52:09.889901833Z","message":{"role":"assistant","content":" tock%d"},"done":false}`+"\n", i%10)
	}
	b.WriteString(`{"model":"tiny","created_at":"2026-11-25T23:52:09.890145698Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":11459794,"load_duration":3037179,"prompt_eval_count":27,"prompt_eval_duration":3637563,"eval_count":11,"eval_duration":2116414}` + "\n")
	return b.Bytes()
}

// BenchmarkDecodeStream measures decoding one streamed answer of 1000
// NDJSON lines into chunks (reported per answer and per line).
func BenchmarkDecodeStream(b *testing.B) {
	const lines = 1000
	data := benchStream(lines)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := decodeStream(bytes.NewReader(data), func(c llm.Chunk, err error) bool {
			n++
			return true
		})
		if err != nil || n != lines+1 {
			b.Fatalf("decoded %d chunks: %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(lines+1)), "ns/line")
}

// FuzzDecodeStream feeds arbitrary bytes to the NDJSON decoder: it must
// not panic, and a clean end must come from a done line with usage.
func FuzzDecodeStream(f *testing.F) {
	f.Add(benchStream(3))
	f.Add([]byte(`{"error":"boom"}` + "\n"))
	f.Add([]byte(`{"model":"tiny","message":{"content":"","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":false}` + "\n" +
		`{"done":true,"done_reason":"stop"}`))
	f.Add([]byte("{\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var last llm.Chunk
		err := decodeStream(bytes.NewReader(data), func(c llm.Chunk, err error) bool {
			last = c
			return true
		})
		if err == nil && (last.Usage == nil || last.FinishReason == "") {
			t.Fatalf("clean end without a final chunk: %+v", last)
		}
		if err != nil && llm.KindOf(err) != llm.KindUpstream {
			t.Fatalf("decode error of kind %v: %v", llm.KindOf(err), err)
		}
	})
}
