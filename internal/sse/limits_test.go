package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// lines is a reader that produces n copies of line without holding them.
type lines struct {
	line string
	n    int
	off  int
}

func (l *lines) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, l.line[l.off:])
	l.off += k
	if l.off == len(l.line) {
		l.off, l.n = 0, l.n-1
	}
	return k, nil
}

// TestReadBoundsEventAndStream is issue 18 item 9: consecutive data:
// lines, each under MaxLine, piled up into one event without limit (100
// lines of 1 MB reached 903 MB RSS); and a stream of small events had no
// bound either.
func TestReadBoundsEventAndStream(t *testing.T) {
	mb := "data: " + strings.Repeat("x", 1<<20) + "\n"
	small := "data: " + strings.Repeat("y", 1000) + "\n\n"
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"one event of 100 data lines of 1 MB", &lines{line: mb, n: 100}, ErrEventTooLarge},
		{"small events past the stream bound", &lines{line: small, n: MaxStream/len(small) + 10}, ErrStreamTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got error
			events, maxData := 0, 0
			for ev, err := range Read(tt.r) {
				if err != nil {
					got = err
					break
				}
				events++
				maxData = max(maxData, len(ev.Data))
			}
			if !errors.Is(got, tt.want) || !errors.Is(got, ErrTooLarge) {
				t.Fatalf("after %d events (largest %d bytes) err = %v, want %v", events, maxData, got, tt.want)
			}
			if maxData > MaxEvent {
				t.Fatalf("an event of %d bytes was dispatched; the bound is %d", maxData, MaxEvent)
			}
		})
	}
}

// TestLimitReader bounds a body that is not SSE (Ollama's NDJSON).
func TestLimitReader(t *testing.T) {
	n, err := io.Copy(io.Discard, LimitReader(strings.NewReader(strings.Repeat("z", 100)), 40))
	if n != 40 || !errors.Is(err, ErrStreamTooLarge) {
		t.Fatalf("copied %d, err %v; want 40 and ErrStreamTooLarge", n, err)
	}
	n, err = io.Copy(io.Discard, LimitReader(strings.NewReader("short"), 40))
	if n != 5 || err != nil {
		t.Fatalf("copied %d, err %v; want 5 and nil", n, err)
	}
}
