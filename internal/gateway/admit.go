package gateway

import (
	"context"
	"fmt"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// admission holds what was reserved for one request so that it can be
// settled exactly once after the call.
type admission struct {
	g        *Gateway
	in       *Input
	res      *Result
	reserved int
	limited  bool
	commit   func(float64)
}

func (a *admission) admit(ctx context.Context) error {
	g, in := a.g, a.in
	if g.Limiter != nil && in.LimitKey != "" {
		a.reserved = a.estimate()
		d, err := g.Limiter.Admit(ctx, in.LimitKey, a.reserved)
		a.res.Admission = d
		if err != nil {
			return &llm.Error{Kind: llm.KindUnavailable, Message: "rate limiter unavailable", Err: err}
		}
		if !d.Allowed {
			return &llm.Error{Kind: llm.KindRateLimited, RetryAfter: d.RetryAfter,
				Message: fmt.Sprintf("rate limit exceeded: %s per minute for this caller; retry in %s", d.Which, d.RetryAfter.Round(1e6))}
		}
		a.limited = true
	}
	if g.Budget != nil && g.Pricer != nil {
		worst, _ := g.Pricer.Cost(a.res.Route.Provider, a.res.Route.Model, llm.Usage{
			InputTokens: a.estimate() - a.in.Req.MaxTokens, OutputTokens: a.in.Req.MaxTokens,
		})
		commit, err := g.Budget.Reserve(ctx, in.Who, worst)
		if err != nil {
			a.settle(ctx)
			return err
		}
		a.commit = commit
	}
	return nil
}

func (a *admission) estimate() int {
	if a.reserved > 0 {
		return a.reserved
	}
	if a.g.EstimateTokens != nil {
		return a.g.EstimateTokens(a.in.Req)
	}
	n := a.in.Req.MaxTokens + len(a.in.Req.System)/4
	for _, m := range a.in.Req.Messages {
		n += len(m.Content)/4 + 4
	}
	return n
}

// settle reconciles the token reservation and commits the real cost.
func (a *admission) settle(ctx context.Context) {
	if a.limited {
		a.limited = false
		a.g.Limiter.Reconcile(ctx, a.in.LimitKey, a.reserved, a.res.Response.Usage.Total())
	}
	if a.commit != nil {
		a.commit(a.res.CostUSD)
		a.commit = nil
	}
}
