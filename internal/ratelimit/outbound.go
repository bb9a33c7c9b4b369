package ratelimit

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// OutboundMode says what a provider call does when its budget is spent.
type OutboundMode int

const (
	// Queue waits until the budget has room, as long as the request's
	// deadline allows; if the wait would pass the deadline it fails at
	// once like FailFast.
	Queue OutboundMode = iota
	// FailFast fails at once with a KindRateLimited error carrying
	// RetryAfter, so the router moves to the fallback without waiting.
	FailFast
)

// OutboundConfig configures Outbound.
type OutboundConfig struct {
	// Name is the provider's name: the budget key ("outbound:"+Name) and
	// the Provider of the errors returned.
	Name   string
	Limits Limits
	Mode   OutboundMode
	// PerModel keys the budget by Name+"/"+req.Model, one budget per
	// model, as Gemini's quotas are.
	PerModel bool
}

// Outbound wraps p so that each call first takes 1 request and the
// estimated tokens (EstimateTokens) from the provider's budget in lim,
// and afterwards reconciles the estimate with the usage reported by the
// provider. With unlimited Limits it returns p unchanged.
func Outbound(p llm.Provider, lim Limiter, cfg OutboundConfig) llm.Provider {
	if cfg.Limits.Unlimited() {
		return p
	}
	return &outbound{next: p, lim: lim, cfg: cfg, sleep: sleepCtx}
}

type outbound struct {
	next  llm.Provider
	lim   Limiter
	cfg   OutboundConfig
	sleep func(ctx context.Context, d time.Duration) error
}

// Unwrap returns the wrapped provider, so that optional interfaces such
// as llm.Pinger stay reachable.
func (o *outbound) Unwrap() llm.Provider { return o.next }

func (o *outbound) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		key := "outbound:" + o.cfg.Name
		if o.cfg.PerModel {
			key += "/" + req.Model
		}
		reserved := EstimateTokens(req)
		if err := o.acquire(ctx, key, reserved); err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		actual, known := 0, false
		defer func() {
			if !known {
				return // cut off with no usage: keep the estimate
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
			defer cancel()
			_ = o.lim.Reconcile(rctx, key, o.cfg.Limits, reserved, actual) // best effort
		}()
		content := false
		for c, err := range o.next.Stream(ctx, req) {
			if err != nil && !content {
				known = true // failed before answering: bill what was reported, else nothing
			}
			if c.Usage != nil {
				actual, known = c.Usage.Total(), true
			}
			content = content || c.HasContent()
			if !yield(c, err) || err != nil {
				return
			}
		}
	}
}

// Embed takes the budget for one embeddings call (1 request and the
// inputs' estimated tokens), then reconciles it with the usage reported.
// A wrapped provider without embeddings answers KindNotFound, as the
// router does for a target that serves none.
func (o *outbound) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	emb, ok := llm.As[llm.Embedder](o.next)
	if !ok {
		return nil, &llm.Error{Kind: llm.KindNotFound, Provider: o.cfg.Name,
			Message: "provider " + o.cfg.Name + " does not serve embeddings"}
	}
	key := "outbound:" + o.cfg.Name
	if o.cfg.PerModel {
		key += "/" + req.Model
	}
	reserved := llm.EstimateEmbedTokens(req.Inputs)
	if err := o.acquire(ctx, key, reserved); err != nil {
		return nil, err
	}
	resp, err := emb.Embed(ctx, req)
	if err == nil && resp != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
		defer cancel()
		_ = o.lim.Reconcile(rctx, key, o.cfg.Limits, reserved, resp.Usage.Total()) // best effort
	}
	return resp, err
}

// acquire takes the budget for one call, waiting in Queue mode.
func (o *outbound) acquire(ctx context.Context, key string, tokens int) error {
	for {
		d, err := o.lim.Admit(ctx, key, o.cfg.Limits, tokens)
		if err != nil {
			return &llm.Error{Kind: llm.KindOf(err), Provider: o.cfg.Name,
				Message: "outbound rate limiter unavailable", Err: err}
		}
		if d.Allowed {
			return nil
		}
		if o.cfg.Mode == FailFast || !fits(ctx, d.RetryAfter) {
			return &llm.Error{
				Kind:       llm.KindRateLimited,
				Provider:   o.cfg.Name,
				RetryAfter: d.RetryAfter,
				Message:    fmt.Sprintf("gateway budget of %s per minute spent; retry in %s", d.Limit, FormatReset(d.RetryAfter)),
			}
		}
		if err := o.sleep(ctx, d.RetryAfter); err != nil {
			return err
		}
	}
}

// fits reports whether waiting d leaves ctx's deadline in the future.
func fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DefaultOutputEstimate is the output reserved for a request that sets no
// MaxTokens.
const DefaultOutputEstimate = 1024

// EstimateTokens estimates what req will cost: about one token per four
// bytes of system text, messages, tool calls and tool definitions, four
// per message for framing, plus MaxTokens (DefaultOutputEstimate when
// unset). Reconcile corrects it afterwards.
func EstimateTokens(req *llm.Request) int {
	n := len(req.System)
	for _, m := range req.Messages {
		n += len(m.Content) + 16 // ~4 tokens of role and framing
		for _, tc := range m.ToolCalls {
			n += len(tc.Name) + len(tc.Arguments)
		}
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	out := req.MaxTokens
	if out <= 0 {
		out = DefaultOutputEstimate
	}
	return (n+3)/4 + out
}
