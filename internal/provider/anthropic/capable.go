package anthropic

import (
	"context"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Accepts implements llm.Capable: the Messages API answers one
// candidate per request (images it takes).
func (c *Client) Accepts(_ context.Context, req *llm.Request) error {
	if req.Candidates > 1 {
		return llm.Unsupported(providerName, "n=%d: the Messages API answers one candidate per request; send n=1", req.Candidates)
	}
	return nil
}

var _ llm.Capable = (*Client)(nil)
