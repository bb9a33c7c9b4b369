package router

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// counter is a provider that counts (or fails to).
type counter struct {
	n     int
	err   error
	calls int
	model string
}

func (c *counter) Stream(context.Context, *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(func(llm.Chunk, error) bool) {}
}

func (c *counter) CountTokens(_ context.Context, req *llm.Request) (llm.TokenCount, error) {
	c.calls++
	c.model = req.Model
	return llm.TokenCount{InputTokens: c.n}, c.err
}

// mute is a provider without a counter.
type mute struct{}

func (mute) Stream(context.Context, *llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(func(llm.Chunk, error) bool) {}
}

func TestCountTokens(t *testing.T) {
	down := func() *counter { return &counter{err: llm.Errorf(llm.KindUnavailable, "google", "down")} }
	for _, tc := range []struct {
		name    string
		targets func() ([]Target, []*counter)
		allow   func(route, target string) bool
		want    int
		noCount bool // llm.ErrNoCounter: the gateway estimates
		kind    llm.Kind
	}{
		{name: "the primary counts, with its own model", targets: func() ([]Target, []*counter) {
			a, b := &counter{n: 7}, &counter{n: 9}
			return []Target{{Name: "a/m1", Model: "m1", P: a}, {Name: "b/m2", Model: "m2", P: b}}, []*counter{a, b}
		}, want: 7},
		{name: "a primary that cannot count: estimate, not another tokenizer", targets: func() ([]Target, []*counter) {
			b := &counter{n: 9}
			return []Target{{Name: "ollama/x", P: mute{}}, {Name: "b/m2", P: b}}, []*counter{nil, b}
		}, noCount: true},
		{name: "primary down: the next that can count", targets: func() ([]Target, []*counter) {
			a, b := down(), &counter{n: 9}
			return []Target{{Name: "a/m1", P: a}, {Name: "ollama/x", P: mute{}}, {Name: "b/m2", P: b}}, []*counter{a, nil, b}
		}, want: 9},
		{name: "every counter down: estimate", targets: func() ([]Target, []*counter) {
			a := down()
			return []Target{{Name: "a/m1", P: a}, {Name: "ollama/x", P: mute{}}}, []*counter{a}
		}, noCount: true},
		{name: "a bad request is the caller's", targets: func() ([]Target, []*counter) {
			a, b := &counter{err: llm.Errorf(llm.KindInvalid, "google", "bad")}, &counter{n: 9}
			return []Target{{Name: "a/m1", P: a}, {Name: "b/m2", P: b}}, []*counter{a, b}
		}, kind: llm.KindInvalid},
		{name: "a target the key may not use is skipped", targets: func() ([]Target, []*counter) {
			a, b := &counter{n: 7}, &counter{n: 9}
			return []Target{{Name: "a/m1", P: a}, {Name: "b/m2", P: b}}, []*counter{a, b}
		}, allow: func(_, target string) bool { return target == "b/m2" }, want: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			targets, cs := tc.targets()
			r := New(targets, DefaultPolicy(), nil)
			ctx := context.Background()
			if tc.allow != nil {
				ctx = llm.WithTargetFilter(ctx, tc.allow)
			}
			n, err := r.CountTokens(ctx, &llm.Request{Model: "asked"})
			switch {
			case tc.noCount:
				if !errors.Is(err, llm.ErrNoCounter) {
					t.Fatalf("err = %v, want ErrNoCounter", err)
				}
			case tc.kind != 0:
				if llm.KindOf(err) != tc.kind || errors.Is(err, llm.ErrNoCounter) {
					t.Fatalf("err = %v, want kind %v", err, tc.kind)
				}
			case err != nil || n.InputTokens != tc.want:
				t.Fatalf("count %+v err %v, want %d", n, err, tc.want)
			}
			calls := 0
			for _, c := range cs {
				if c != nil {
					calls += c.calls
				}
			}
			if tc.name == "the primary counts, with its own model" && (calls != 1 || cs[0].model != "m1") {
				t.Errorf("%d count calls, model %q", calls, cs[0].model)
			}
		})
	}
}
