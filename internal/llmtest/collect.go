package llmtest

import (
	"context"

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
