package openai

import "github.com/llm-connector/llm-connector/internal/llm"

// Choices 1.. of an n > 1 request: each folds into its own streamState;
// its text goes out as chunks with llm.Chunk.Candidate set, its tool
// calls and finish reason with the end.

func (s *streamState) addOther(cc *chunkChoice) {
	if cc.Index <= 0 || cc.Index >= llm.MaxCandidates {
		return
	}
	for len(s.others) < cc.Index {
		s.others = append(s.others, streamState{})
	}
	if d := s.others[cc.Index-1].addChoice(cc); d != "" {
		s.pending = append(s.pending, llm.Chunk{Delta: d, Candidate: cc.Index})
	}
}

// flush yields the pending deltas; false when the caller stopped.
func (s *streamState) flush(yield func(llm.Chunk, error) bool) bool {
	for _, c := range s.pending {
		if !yield(c, nil) {
			return false
		}
	}
	s.pending = s.pending[:0]
	return true
}

// yieldFinal yields each further choice's tool calls and finish reason,
// then choice 0's final chunk with the usage; false: the caller stopped.
func (s *streamState) yieldFinal(provider string, yield func(llm.Chunk, error) bool) bool {
	for i := range s.others {
		c := s.others[i].final(provider)
		c.Candidate = i + 1
		if !yield(c, nil) {
			return false
		}
	}
	return yield(s.final(provider), nil)
}
