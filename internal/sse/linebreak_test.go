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

// scanLinesByte is the byte-at-a-time splitter scanLines replaced: the
// reference it is fuzzed against.
func scanLinesByte(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func FuzzScanLines(f *testing.F) {
	for _, s := range []string{"", "a", "a\r", "a\r\n", "a\rb", "\n\n", "data: x\r\n\r\n", "x\n\r"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, atEOF bool) {
		n1, l1, e1 := scanLines(b, atEOF)
		n2, l2, e2 := scanLinesByte(b, atEOF)
		if n1 != n2 || !bytes.Equal(l1, l2) || (l1 == nil) != (l2 == nil) || e1 != e2 {
			t.Fatalf("scanLines(%q, %v) = %d %q %v, want %d %q %v", b, atEOF, n1, l1, e1, n2, l2, e2)
		}
	})
}

// BenchmarkReadStream reads a 200-event stream of OpenAI-shaped chunks.
func BenchmarkReadStream(b *testing.B) {
	var s strings.Builder
	for range 200 {
		s.WriteString(`data: {"id":"chatcmpl-0123456789abcdef01234567","object":"chat.completion.chunk","created":1764633600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello, world "},"finish_reason":null}]}` + "\n\n")
	}
	in := s.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range Read(strings.NewReader(in)) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 200 {
			b.Fatalf("%d events", n)
		}
	}
}
