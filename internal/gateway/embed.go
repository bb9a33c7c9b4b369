package gateway

import (
	"context"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// EmbedInput is one embeddings request as the HTTP layer decoded it.
type EmbedInput struct {
	RequestID string
	Endpoint  string
	Who       Identity
	LimitKey  string
	Model     string // requested model or alias; "" = the default embedding route
	Provider  string
	Req       *llm.EmbedRequest
	NoCache   bool
	NoStore   bool
}

// EmbedResult describes an embeddings call after it ended.
type EmbedResult struct {
	Route     Route
	Admission Admission
	Cached    bool
	Response  *llm.EmbedResponse
	CostUSD   float64
	CostKnown bool
	Fallback  bool
	Err       error
	Start     time.Time
	Duration  time.Duration
}

// Embed admits, routes, prices and records an embeddings request.
// TODO(issue 14, embeddings): built on the branch that adds /v1/embeddings.
func (g *Gateway) Embed(ctx context.Context, in *EmbedInput) (*EmbedResult, error) {
	res := &EmbedResult{Start: time.Now()}
	res.Err = llm.Errorf(llm.KindInvalid, "", "embeddings are not served yet")
	return res, res.Err
}
