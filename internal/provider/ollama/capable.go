package ollama

import (
	"context"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Accepts implements llm.Capable: Ollama answers one candidate per
// request, and images only reach a model whose /api/show capabilities
// include "vision" (asked once per model). A failing /api/show says
// nothing about the model: the request is accepted and the attempt
// meets the failure.
func (c *Client) Accepts(ctx context.Context, req *llm.Request) error {
	if err := candidatesErr(req); err != nil {
		return err
	}
	if !req.HasImages() {
		return nil
	}
	ok, err := c.sees(ctx, req.Model)
	if err != nil {
		return nil
	}
	return visionErr(req.Model, ok)
}

func candidatesErr(req *llm.Request) error {
	if req.Candidates > 1 {
		return llm.Unsupported(providerName, "n=%d: Ollama answers one candidate per request; send n=1", req.Candidates)
	}
	return nil
}

var _ llm.Capable = (*Client)(nil)
