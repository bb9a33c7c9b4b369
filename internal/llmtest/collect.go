package llmtest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Outcome is what one call of a provider came to: the collected answer
// and its error.
type Outcome struct {
	Response *llm.Response
	Err      error
}

// BothWays sends req to p twice, streamed and then collected
// (llm.Request.Collect), and returns both outcomes for the caller to
// compare: an adapter must map an answer the same either way. Script
// the upstream with the same reply twice first.
func BothWays(p llm.Provider, req *llm.Request) (streamed, collected Outcome) {
	s := req.Clone()
	s.Collect = false
	streamed.Response, streamed.Err = llm.Collect(p.Stream(context.Background(), s))
	c := req.Clone()
	c.Collect = true
	collected.Response, collected.Err = llm.Collect(p.Stream(context.Background(), c))
	return streamed, collected
}

// SameBothWays fails t unless the two outcomes of BothWays agree: with
// kind set, both are errors of that kind with the same text and retry
// hint; otherwise both succeed, the streamed answer is want and the
// collected one equals it.
func SameBothWays(t testing.TB, streamed, collected Outcome, kind llm.Kind, want llm.Response) {
	t.Helper()
	if kind != 0 {
		if llm.KindOf(streamed.Err) != kind || llm.KindOf(collected.Err) != kind {
			t.Fatalf("errors: streamed %v, collected %v; want kind %v", streamed.Err, collected.Err, kind)
		}
		if d := cmp.Diff(streamed.Err.Error(), collected.Err.Error()); d != "" {
			t.Errorf("the error differs (-streamed +collected):\n%s", d)
		}
		if rs, rc := llm.RetryAfter(streamed.Err), llm.RetryAfter(collected.Err); rs != rc {
			t.Errorf("retry hint: streamed %s, collected %s", rs, rc)
		}
		return
	}
	if streamed.Err != nil || collected.Err != nil {
		t.Fatalf("errors: streamed %v, collected %v", streamed.Err, collected.Err)
	}
	if d := cmp.Diff(want, *streamed.Response); d != "" {
		t.Errorf("streamed (-want +got):\n%s", d)
	}
	if d := cmp.Diff(*streamed.Response, *collected.Response); d != "" {
		t.Errorf("collected differs from streamed (-streamed +collected):\n%s", d)
	}
}
