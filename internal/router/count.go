package router

import (
	"cmp"
	"context"
	"errors"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// CountTokens implements llm.TokenCounter: one count call to the first
// target the request may use. When that target cannot count (Ollama,
// OpenAI) the answer is llm.ErrNoCounter and the gateway estimates: a
// count by another backend's tokenizer would be a wrong number stated as
// exact. When it can but is unavailable (down, rate-limited, its breaker
// open), the next target that can count is asked instead. Counts are
// not chat attempts: they are not traced and do not move breakers.
func (r *Router) CountTokens(ctx context.Context, req *llm.Request) (llm.TokenCount, error) {
	var last error
	first := true
	for i, t := range r.targets {
		if !llm.TargetAllowed(ctx, r.routeName(), t.Name) {
			continue
		}
		c, ok := llm.As[llm.TokenCounter](t.P)
		if !ok {
			if first {
				return llm.TokenCount{}, llm.ErrNoCounter
			}
			continue
		}
		first = false
		if r.brs[i].isOpen() {
			last = &llm.Error{Kind: llm.KindUnavailable, Provider: t.Provider, Message: "circuit open"}
			continue
		}
		rq := *req
		rq.Model = cmp.Or(t.Model, req.Model)
		n, err := c.CountTokens(ctx, &rq)
		if err == nil || !countFallsBack(err) || ctx.Err() != nil {
			return n, err
		}
		last = err
	}
	if last == nil {
		return llm.TokenCount{}, llm.ErrNoCounter
	}
	return llm.TokenCount{}, errors.Join(llm.ErrNoCounter, last)
}

// countFallsBack says a failed count may be asked of the next target:
// the target, not the request, is the trouble.
func countFallsBack(err error) bool {
	switch llm.KindOf(err) {
	case llm.KindRateLimited, llm.KindUnavailable, llm.KindTimeout, llm.KindUpstream, llm.KindNotFound,
		llm.KindUnauthorized, llm.KindForbidden:
		return true
	}
	return errors.Is(err, llm.ErrNoCounter)
}

var _ llm.TokenCounter = (*Router)(nil)
