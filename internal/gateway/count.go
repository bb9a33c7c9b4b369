package gateway

import (
	"context"
	"errors"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// CountTokens counts the input tokens of in.Req on the route's primary
// target: its own counter when it has one (Gemini countTokens, Anthropic
// count_tokens; the router tries the next target that can count when
// that one is unavailable), else a stated estimate (Estimated true) by
// the gateway's token estimator. The route is resolved and authorized as
// for Chat, and the call counts against the caller's request rate limit
// (it spends no tokens, so it reserves none). A count generates nothing:
// it is neither billed nor recorded as an interaction.
func (g *Gateway) CountTokens(ctx context.Context, in *Input) (llm.TokenCount, error) {
	route, err := g.route(ctx, g.Routes, in.Model, in.Provider)
	if err != nil {
		return llm.TokenCount{}, err
	}
	if err := g.admitCount(ctx, in); err != nil {
		return llm.TokenCount{}, err
	}
	req := in.Req.Clone()
	req.Model = route.Model
	if c, ok := route.P.(llm.TokenCounter); ok {
		n, err := c.CountTokens(ctx, req)
		switch {
		case err == nil:
			return n, nil
		case !errors.Is(err, llm.ErrNoCounter):
			return llm.TokenCount{}, err
		}
	}
	return llm.TokenCount{InputTokens: g.inputEstimate(req), Estimated: true}, nil
}

// admitCount takes one request from the caller's rate limit.
func (g *Gateway) admitCount(ctx context.Context, in *Input) error {
	if g.Limiter == nil || in.LimitKey == "" {
		return nil
	}
	d, err := g.Limiter.Admit(ctx, in.LimitKey, 0)
	if err != nil {
		return &llm.Error{Kind: llm.KindUnavailable, Message: "rate limiter unavailable", Err: err}
	}
	if !d.Allowed {
		if g.Observer != nil {
			g.Observer.RateLimited(d.Which)
		}
		return &llm.Error{Kind: llm.KindRateLimited, RetryAfter: d.RetryAfter,
			Message: "rate limit exceeded: " + d.Which + " per minute for this caller"}
	}
	return nil
}

// inputEstimate is the estimator's count of the input alone: the
// admission estimate includes the answer's max_tokens, which a count
// leaves out.
func (g *Gateway) inputEstimate(req *llm.Request) int {
	r := *req
	r.MaxTokens = 1
	if g.EstimateTokens != nil {
		return max(g.EstimateTokens(&r)-1, 1)
	}
	n := len(r.System)
	for _, m := range r.Messages {
		n += len(m.Content) + 16
		for _, tc := range m.ToolCalls {
			n += len(tc.Name) + len(tc.Arguments)
		}
	}
	for _, t := range r.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	return max((n+3)/4, 1)
}
