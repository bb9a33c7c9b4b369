package gemini

import (
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// A usage snapshot repeated on every event costs no allocation, and a
// pointer handed out keeps its value whatever comes after it.
func TestUsageSlabKeepsEveryValue(t *testing.T) {
	var s usageSlab
	type seen struct {
		p *llm.Usage
		v llm.Usage
	}
	var got []seen
	for i := range 3 * usageBlock {
		u := llm.Usage{InputTokens: 5, OutputTokens: i / 2, TotalTokens: 5 + i/2} // each value twice
		p := s.of(u)
		if i%2 == 1 && p != got[i-1].p {
			t.Fatalf("event %d: an unchanged usage got a new pointer", i)
		}
		if i%2 == 0 && i > 0 && p == got[i-1].p {
			t.Fatalf("event %d: a changed usage reused the last pointer", i)
		}
		got = append(got, seen{p, u})
	}
	for i, g := range got {
		if *g.p != g.v {
			t.Fatalf("event %d: usage handed out as %+v now reads %+v", i, g.v, *g.p)
		}
	}
	if n := testing.AllocsPerRun(100, func() { s.of(got[len(got)-1].v) }); n != 0 {
		t.Fatalf("an unchanged usage allocates %v times", n)
	}
}
