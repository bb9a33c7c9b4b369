package llm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCandidatesCollectAndReplay: chunks of further candidates fold into
// Response.Others, never into the first answer, and Replay gives them
// back so that a cache hit answers every candidate.
func TestCandidatesCollectAndReplay(t *testing.T) {
	chunks := []Chunk{
		{Delta: "a"}, {Candidate: 1, Delta: "b"}, {Candidate: 2, Delta: "c"}, {Delta: "a"},
		{Candidate: 1, Delta: "b", FinishReason: FinishLength}, {Candidate: 2, ToolCalls: []ToolCall{{ID: "1", Name: "f", Arguments: "{}"}}},
		{Candidate: MaxCandidates, Delta: "dropped"},
		{FinishReason: FinishStop, Usage: &Usage{InputTokens: 3, OutputTokens: 6}, Model: "m"},
	}
	seq := func(yield func(Chunk, error) bool) {
		for _, c := range chunks {
			if !yield(c, nil) {
				return
			}
		}
	}
	r, err := Collect(seq)
	if err != nil {
		t.Fatal(err)
	}
	want := &Response{Text: "aa", FinishReason: FinishStop, Usage: Usage{InputTokens: 3, OutputTokens: 6}, Model: "m",
		Others: []Choice{{Text: "bb", FinishReason: FinishLength}, {Text: "c", ToolCalls: []ToolCall{{ID: "1", Name: "f", Arguments: "{}"}}}}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Fatalf("collected (-want +got):\n%s", diff)
	}
	var added Response
	for _, c := range chunks {
		added.Add(c)
	}
	if diff := cmp.Diff(want, &added); diff != "" {
		t.Errorf("Add (-want +got):\n%s", diff)
	}
	again, err := Collect(Replay(r))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("replayed (-want +got):\n%s", diff)
	}
}
