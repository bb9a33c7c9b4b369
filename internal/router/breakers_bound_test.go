package router

import (
	"fmt"
	"testing"
)

// TestBreakersBounded is issue 18 item 1 at the breaker set: every
// distinct target name made a breaker that was never removed. Names that
// are not pinned share at most MaxBreakers, least recently used first
// out; pinned (configured) ones stay whatever comes.
func TestBreakersBounded(t *testing.T) {
	b := NewBreakers(BreakerConfig{})
	b.Pin("google/gemini-2.5-flash")
	pinned := b.get("google/gemini-2.5-flash")
	pinned.failure("boom")
	hot := b.get("ollama/hot")
	for i := range 10 * MaxBreakers {
		b.get(fmt.Sprintf("google/made-up-%d", i))
		if i%10 == 0 {
			b.get("ollama/hot") // used all the time: stays
		}
	}
	if n := b.Len(); n != MaxBreakers+1 {
		t.Fatalf("%d breakers, want %d (the cap plus the pinned one)", n, MaxBreakers+1)
	}
	if b.get("google/gemini-2.5-flash") != pinned || pinned.health().ConsecutiveFailures != 1 {
		t.Error("the pinned breaker was forgotten")
	}
	if b.get("ollama/hot") != hot {
		t.Error("a recently used breaker was forgotten")
	}
	b.Forget("ollama/hot")
	b.Forget("google/gemini-2.5-flash")
	if b.get("ollama/hot") == hot || b.get("google/gemini-2.5-flash") != pinned {
		t.Error("Forget: want the unpinned breaker gone and the pinned one kept")
	}
}
