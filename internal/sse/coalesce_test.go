package sse

import (
	"bytes"
	"strings"
	"testing"
)

// countingWriter records each Write and Flush.
type countingWriter struct {
	bytes.Buffer
	writes, flushes int
}

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return c.Buffer.Write(p) }
func (c *countingWriter) Flush()                      { c.flushes++ }

// TestCoalesceHoldsUntilFlush: held events reach the response in one
// write at Flush, in order; past holdLimit they are handed on without a
// flush; a comment flushes at once; without Coalesce every event is
// written and flushed.
func TestCoalesceHoldsUntilFlush(t *testing.T) {
	c := &countingWriter{}
	sw := NewWriter(c)
	sw.Coalesce()
	for _, d := range []string{"a", "b", "c"} {
		if err := sw.Event("delta", []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	if c.writes != 0 || c.flushes != 0 {
		t.Fatalf("before Flush: %d writes, %d flushes, want none", c.writes, c.flushes)
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "event: delta\ndata: a\n\nevent: delta\ndata: b\n\nevent: delta\ndata: c\n\n"
	if c.String() != want || c.writes != 1 || c.flushes != 1 {
		t.Fatalf("after Flush: %q in %d writes, %d flushes; want %q in 1, 1", c.String(), c.writes, c.flushes, want)
	}
	if err := sw.Flush(); err != nil || c.flushes != 1 {
		t.Fatalf("an empty Flush flushed (%d flushes, %v)", c.flushes, err)
	}
	big := []byte(strings.Repeat("x", holdLimit))
	if err := sw.Event("", big); err != nil || c.writes != 2 || c.flushes != 1 {
		t.Fatalf("past holdLimit: %d writes, %d flushes (%v), want 2, 1", c.writes, c.flushes, err)
	}
	if err := sw.Event("", []byte("tail")); err != nil {
		t.Fatal(err)
	}
	if err := sw.Comment("keep-alive"); err != nil || c.flushes != 2 || !strings.HasSuffix(c.String(), "data: tail\n\n: keep-alive\n\n") {
		t.Fatalf("comment: %d flushes (%v), output ends %q", c.flushes, err, c.String()[max(0, c.Len()-40):])
	}

	plain := &countingWriter{}
	pw := NewWriter(plain)
	for range 3 {
		if err := pw.Event("", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if plain.writes != 3 || plain.flushes != 3 {
		t.Fatalf("without Coalesce: %d writes, %d flushes, want 3, 3", plain.writes, plain.flushes)
	}
}

// TestJSONEvent: BeginJSON/EndJSON's data is appended in place and framed as Event
// frames it; data with a line break is refused and leaves nothing
// behind; Release hands the buffer back and a new writer can take it.
func TestJSONEvent(t *testing.T) {
	for _, hold := range []bool{true, false} {
		c := &countingWriter{}
		sw := NewWriter(c)
		if hold {
			sw.Coalesce()
		}
		event := func(typ, v string) error {
			b, err := sw.BeginJSON(typ)
			if err != nil {
				return err
			}
			return sw.EndJSON(append(append(append(b, `{"v":"`...), v...), `"}`...))
		}
		if err := event("delta", "a"); err != nil {
			t.Fatal(err)
		}
		if err := event("", "x\ny"); err == nil {
			t.Error("data with a line break was taken")
		}
		if err := event("bad\ntype", "z"); err == nil {
			t.Error("a type with a line break was taken")
		}
		if err := event("", "b"); err != nil {
			t.Fatal(err)
		}
		if err := sw.Flush(); err != nil {
			t.Fatal(err)
		}
		want := "event: delta\ndata: {\"v\":\"a\"}\n\ndata: {\"v\":\"b\"}\n\n"
		if c.String() != want {
			t.Errorf("hold %v: %q, want %q", hold, c.String(), want)
		}
		sw.Release()
	}
	// The pooled buffer is held only while events are: none before the
	// first, one for held events, none after Flush.
	sw := NewWriter(&countingWriter{})
	sw.Coalesce()
	if sw.buf != nil {
		t.Errorf("a coalescing writer holds a buffer (cap %d) before its first event", cap(sw.buf))
	}
	if err := sw.Event("", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if sw.pooled == nil || len(sw.buf) == 0 {
		t.Errorf("a held event is in len %d (pooled %v), want > 0 in a pooled buffer", len(sw.buf), sw.pooled != nil)
	}
	if err := sw.Flush(); err != nil || sw.buf != nil || sw.pooled != nil {
		t.Errorf("after Flush (%v) the writer still holds a buffer of cap %d", err, cap(sw.buf))
	}
	sw.Release()
}
