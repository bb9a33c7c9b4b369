package sse

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineBreakMatchesIndexAny(t *testing.T) {
	long := strings.Repeat(`{"choices":[{"delta":{"content":"word "}}]}`, 8)
	for _, s := range []string{
		"", "a", "\n", "\r", "\r\n", "\n\r", "ab\ncd", "ab\rcd", "ab\r\ncd", "abc\n\r",
		long, long + "\n", long + "\r" + long + "\n", "x\r" + long + "\n", long + "\n" + long + "\r",
	} {
		if got, want := lineBreak([]byte(s)), bytes.IndexAny([]byte(s), "\r\n"); got != want {
			t.Errorf("lineBreak(%q) = %d, want %d", s, got, want)
		}
	}
}

func FuzzLineBreak(f *testing.F) {
	f.Add([]byte("a\r\nb"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := lineBreak(b), bytes.IndexAny(b, "\r\n"); got != want {
			t.Fatalf("lineBreak(%q) = %d, want %d", b, got, want)
		}
	})
}

// BenchmarkEventJSONChunk is one OpenAI-shaped chunk written as an event:
// no line break in the data, the common case of every stream encoder.
func BenchmarkEventJSONChunk(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-0123456789abcdef01234567","object":"chat.completion.chunk","created":1764633600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello, world "},"finish_reason":null}]}`)
	w := NewWriter(discard{})
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Event("", data); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
