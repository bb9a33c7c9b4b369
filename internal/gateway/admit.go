package gateway

import (
	"cmp"
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
	err := a.reserve(ctx)
	if err != nil && a.g.Observer != nil && llm.KindOf(err) == llm.KindRateLimited {
		a.g.Observer.RateLimited(cmp.Or(a.res.Admission.Which, "budget"))
	}
	return err
}

// reserve takes the request's rate-limit tokens and budget.
func (a *admission) reserve(ctx context.Context) error {
	g, in := a.g, a.in
	if g.Limiter != nil && in.LimitKey != "" {
		a.reserved = a.estimate()
		d, err := g.Limiter.Admit(ctx, in.LimitKey, a.reserved)
		a.res.Admission = d
		if err != nil {
			return &llm.Error{Kind: llm.KindUnavailable, Message: "rate limiter unavailable", Err: err}
		}
		if !d.Allowed {
			msg := d.Message
			if msg == "" {
				msg = fmt.Sprintf("rate limit exceeded: %s per minute for this caller; retry in %s", d.Which, d.RetryAfter.Round(1e6))
			}
			return &llm.Error{Kind: llm.KindRateLimited, RetryAfter: d.RetryAfter, Message: msg}
		}
		a.limited = true
	}
	if g.Budget != nil && g.Pricer != nil {
		worst, _ := g.Pricer.Cost(a.res.Route.Provider, a.res.Route.Model, g.worstCase(a.res.Route, in.Req))
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

// Bounds of the budget's worst case beyond the text itself.
const (
	// templateTokens covers a chat template's fixed tokens (BOS, the
	// system header, the assistant prefix).
	templateTokens = 64
	// perMessageTokens covers each turn's role markers and separators.
	perMessageTokens = 16
	// defaultMaxOutput is assumed when a request leaves max_tokens unset.
	defaultMaxOutput = 8192
)

// worstCase is a true upper bound of what req can bill: no tokenizer
// makes more than one token of a byte, so input is at most every byte
// of the system text, messages, tool calls and tool declarations, plus
// the chat template's own tokens; output is at most max_tokens plus the
// thinking budget. A call that still costs more (a provider billing
// beyond its own limits) is charged its real cost at commit, so the
// overshoot counts against the next admission.
func (g *Gateway) worstCase(r Route, req *llm.Request) llm.Usage {
	in := templateTokens + len(req.System)
	for _, m := range req.Messages {
		in += perMessageTokens + len(m.Content) + len(m.Name) + len(m.ToolCallID)
		for _, tc := range m.ToolCalls {
			in += perMessageTokens + len(tc.Name) + len(tc.Arguments)
		}
	}
	for _, t := range req.Tools {
		in += perMessageTokens + len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	in += imageTokens * countImages(req)
	if req.Schema != nil {
		in += perMessageTokens + len(req.Schema.Schema)
	}
	out := req.MaxTokens
	if out <= 0 {
		out = defaultMaxOutput
	}
	if req.Candidates > 1 {
		out *= req.Candidates // each candidate is billed its own output
	}
	switch {
	case req.ThinkingBudget != nil && *req.ThinkingBudget >= 0:
		out += max(*req.ThinkingBudget, 0)
	case g.ThinkingTokens != nil:
		out += max(g.ThinkingTokens(r.Provider), 0)
	}
	return llm.Usage{InputTokens: in, OutputTokens: out}
}
