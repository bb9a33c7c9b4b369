package llmtest

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Repeat is a reader of head, then n copies of line, produced as read
// (an oversized upstream body without holding it in memory).
func Repeat(head, line string, n int) io.Reader {
	return io.MultiReader(&repeater{s: head, n: 1}, &repeater{s: line, n: n})
}

type repeater struct {
	s      string
	n, off int
}

func (r *repeater) Read(p []byte) (int, error) {
	if r.n == 0 || len(r.s) == 0 {
		return 0, io.EOF
	}
	k := copy(p, r.s[r.off:])
	r.off += k
	if r.off == len(r.s) {
		r.off, r.n = 0, r.n-1
	}
	return k, nil
}

// OversizedEvent is an SSE body whose first event piles 10 data: lines of
// 1 MB each (one event past the 8 MB bound, each line within it).
func OversizedEvent() io.Reader {
	line := "data: " + repeatByte('x', 1<<20) + "\n"
	return Repeat("", line, 10)
}

func repeatByte(c byte, n int) string { return strings.Repeat(string(c), n) }

// CheckTooLarge fails t unless err is a KindUpstream *llm.Error (a 502 to
// the client) whose public message says the answer was too large.
func CheckTooLarge(t testing.TB, err error) {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindUpstream {
		t.Fatalf("err = %v (%T), want a KindUpstream *llm.Error", err, err)
	}
	if msg := llm.PublicMessage(err); !strings.Contains(strings.ToLower(msg), "too large") {
		t.Fatalf("public message %q does not say the answer was too large", msg)
	}
}
