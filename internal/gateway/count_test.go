package gateway

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
	"github.com/llm-connector/llm-connector/internal/track"
)

// countingRoute is a route provider that counts, or says it cannot.
type countingRoute struct {
	n   int
	err error
	got *llm.Request
}

func (c *countingRoute) Stream(context.Context, *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(func(llm.Chunk, error) bool) {}
}

func (c *countingRoute) CountTokens(_ context.Context, req *llm.Request) (llm.TokenCount, error) {
	c.got = req
	return llm.TokenCount{InputTokens: c.n}, c.err
}

func TestCountTokens(t *testing.T) {
	req := func() *llm.Request {
		return &llm.Request{Model: "default", MaxTokens: 4000, System: "be brief",
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "how many tokens is this?"}}}
	}
	estimate := func(r *llm.Request) int { return len(r.System)/4 + len(r.Messages[0].Content)/4 + r.MaxTokens }
	var recorded int
	for _, tc := range []struct {
		name      string
		p         llm.Provider
		model     string
		limiter   *fixedLimiter
		authorize func(context.Context, Route) error
		want      llm.TokenCount
		kind      llm.Kind
		noRoute   bool
	}{
		{name: "the route counts, with the primary's model", p: &countingRoute{n: 12}, want: llm.TokenCount{InputTokens: 12}},
		{name: "no counter: the estimate without max_tokens", p: &countingRoute{err: llm.ErrNoCounter},
			want: llm.TokenCount{InputTokens: 8, Estimated: true}},
		{name: "a provider that is no counter at all", p: &triedTwice{}, want: llm.TokenCount{InputTokens: 8, Estimated: true}},
		{name: "the counter's error", p: &countingRoute{err: llm.Errorf(llm.KindInvalid, "google", "bad")}, kind: llm.KindInvalid},
		{name: "unknown route", p: &countingRoute{}, model: "missing", noRoute: true},
		{name: "refused by the key's allow-list", p: &countingRoute{n: 1},
			authorize: func(context.Context, Route) error { return llm.Errorf(llm.KindForbidden, "", "no") }, kind: llm.KindForbidden},
		{name: "rate limited", p: &countingRoute{n: 1}, limiter: &fixedLimiter{adm: Admission{Which: "requests"}}, kind: llm.KindRateLimited},
		{name: "within the rate limit", p: &countingRoute{n: 3}, limiter: &fixedLimiter{adm: Admission{Allowed: true}}, want: llm.TokenCount{InputTokens: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Gateway{Routes: oneRoute{tc.p}, EstimateTokens: estimate, Authorize: tc.authorize,
				Sink: track.SinkFunc(func(context.Context, track.Call) error { recorded++; return nil })}
			if tc.limiter != nil {
				g.Limiter = tc.limiter
			}
			in := &Input{Model: tc.model, LimitKey: "key:k", Req: req()}
			n, err := g.CountTokens(context.Background(), in)
			switch {
			case tc.noRoute:
				if !errors.Is(err, ErrNoRoute) {
					t.Fatalf("err = %v", err)
				}
			case tc.kind != 0:
				if llm.KindOf(err) != tc.kind {
					t.Fatalf("err = %v, want %v", err, tc.kind)
				}
			case err != nil || n != tc.want:
				t.Fatalf("count %+v err %v, want %+v", n, err, tc.want)
			}
			if c, ok := tc.p.(*countingRoute); ok && c.got != nil && (c.got.Model != "gemini" || in.Req.Model != "default") {
				t.Errorf("counted with model %q (the input's %q): want the primary's, on a copy", c.got.Model, in.Req.Model)
			}
		})
	}
	if recorded != 0 {
		t.Errorf("%d counts recorded as interactions", recorded)
	}
}
