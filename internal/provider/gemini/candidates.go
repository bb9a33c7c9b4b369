package gemini

import "github.com/llm-connector/llm-connector/internal/llm"

// candidates holds what candidates 1.. of a candidateCount > 1 answer
// sent: their content goes out as chunks with llm.Chunk.Candidate set
// right after the event that carried it, their finish reasons with the
// end. Candidate 0 is the decoder's own, as for one candidate.
type candidates struct {
	pending []llm.Chunk
	finish  map[int]string
	calls   map[int]bool
}

func (cs *candidates) add(d *decoder, cand candidate) {
	if cand.Index <= 0 || cand.Index >= llm.MaxCandidates {
		return
	}
	if cs.finish == nil {
		cs.finish, cs.calls = map[int]string{}, map[int]bool{}
	}
	if _, ok := cs.finish[cand.Index]; !ok {
		cs.finish[cand.Index] = ""
	}
	if cand.FinishReason != "" {
		cs.finish[cand.Index] = cand.FinishReason
	}
	if cand.Content == nil {
		return
	}
	c := d.chunk()
	c.Candidate = cand.Index
	text, calls := d.text, d.calls
	d.addParts(&c, cand.Content.Parts)
	d.text = text // candidate 0's emptiness is judged on its own parts
	if len(c.ToolCalls) > 0 {
		cs.calls[cand.Index] = true
	}
	d.calls = calls + len(c.ToolCalls)
	if c.HasContent() {
		cs.pending = append(cs.pending, c)
	}
}

// flush yields the pending chunks; false when the caller stopped.
func (cs *candidates) flush(yield func(llm.Chunk, error) bool) bool {
	for _, c := range cs.pending {
		if !yield(c, nil) {
			return false
		}
	}
	cs.pending = cs.pending[:0]
	return true
}

// yieldEnd yields each further candidate's finish reason, then the final
// chunk (or the error) of candidate 0.
func (d *decoder) yieldEnd(yield func(llm.Chunk, error) bool) {
	final, err := d.end()
	if err == nil {
		for i := 1; i < llm.MaxCandidates; i++ {
			reason, ok := d.others.finish[i]
			if !ok {
				continue
			}
			c := d.chunk()
			c.Candidate, c.FinishReason = i, mapFinish(reason, d.others.calls[i])
			if !yield(c, nil) {
				return
			}
		}
	}
	yield(final, err)
}
