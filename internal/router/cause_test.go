package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
	fp "github.com/llm-connector/llm-connector/internal/llmtest/fakeprovider"
)

func contextWindowErr() error {
	return &llm.Error{Kind: llm.KindInvalid, Provider: "google", StatusCode: 400, Detail: llm.DetailContextWindow,
		Message: "400 INVALID_ARGUMENT: The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."}
}

func blockedErr() error {
	return &llm.Error{Kind: llm.KindBlocked, Provider: "google", Message: "prompt blocked: SAFETY"}
}

// TestFallbackByCause: each error class goes where its rule says; without
// a rule the chain behaves as before.
func TestFallbackByCause(t *testing.T) {
	tests := []struct {
		name      string
		primary   error
		rules     []string // causes that have a rule to the big target
		nowhere   []string // causes whose rule is "nowhere"
		wantText  string
		wantKind  llm.Kind
		wantCalls [3]int // primary, chain's second, rule's target
	}{
		{"context window goes to the larger target, skipping the chain", contextWindowErr(), []string{"context_window"}, nil, "big", 0, [3]int{1, 0, 1}},
		{"context window without a rule returns the 400", contextWindowErr(), nil, nil, "", llm.KindInvalid, [3]int{1, 0, 0}},
		{"content filter to another provider", blockedErr(), []string{"content_filter"}, nil, "big", 0, [3]int{1, 0, 1}},
		{"content filter to nowhere", blockedErr(), nil, []string{"content_filter"}, "", llm.KindBlocked, [3]int{1, 0, 0}},
		{"a plain 400 has no class: returned", kindErr(llm.KindInvalid), []string{"context_window", "content_filter"}, nil, "", llm.KindInvalid, [3]int{1, 0, 0}},
		{"unavailable falls back along the chain as today", unavailable("google"), []string{"context_window"}, nil, "second", 0, [3]int{4, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			primary := fp.New("google")
			primary.SetDefault(fp.Err(tc.primary))
			second := fp.New("ollama")
			second.SetDefault(fp.Text("second"))
			big := fp.New("openai")
			big.SetDefault(fp.Text("big"))
			bigT := Target{Name: "openai/big", Provider: "openai", Model: "big", P: big, Retries: -1}
			r, _ := newTestRouter(t, testPolicy(), nil, gemini(primary), ollama(second))
			sub, _ := newTestRouter(t, testPolicy(), r.Breakers(), bigT)
			rules := map[string]*Router{}
			for _, c := range tc.rules {
				rules[c] = sub
			}
			for _, c := range tc.nowhere {
				rules[c] = nil
			}
			r.WithFallbacks(rules)
			res := drain(context.Background(), r)
			if tc.wantText != "" && (res.err != nil || res.text != tc.wantText) {
				t.Fatalf("got %q %v, want %q", res.text, res.err, tc.wantText)
			}
			if tc.wantText == "" && llm.KindOf(res.err) != tc.wantKind {
				t.Fatalf("got %q %v, want kind %v", res.text, res.err, tc.wantKind)
			}
			if got := [3]int{primary.NumCalls(), second.NumCalls(), big.NumCalls()}; got != tc.wantCalls {
				t.Fatalf("calls %v, want %v", got, tc.wantCalls)
			}
		})
	}
}

// TestFallbackRateLimitedRule: when the whole chain ends rate limited, a
// rate_limited rule's route serves the request.
func TestFallbackRateLimitedRule(t *testing.T) {
	primary := fp.New("google")
	primary.SetDefault(fp.Err(rateLimited(time.Hour)))
	spare := fp.New("openai")
	spare.SetDefault(fp.Text("spare"))
	r, _ := newTestRouter(t, testPolicy(), nil, gemini(primary))
	sub, _ := newTestRouter(t, testPolicy(), r.Breakers(), Target{Name: "openai/spare", Provider: "openai", Model: "spare", P: spare, Retries: -1})
	r.WithFallbacks(map[string]*Router{llm.CauseRateLimited: sub})
	r.policy.Deadline = 10 * time.Second // the hour's hint cannot be waited for
	if res := drain(context.Background(), r); res.err != nil || res.text != "spare" {
		t.Fatalf("got %q %v, want spare", res.text, res.err)
	}
}

// TestContextWindowPrecheck: a prompt estimated above a target's window
// skips it without a call; a target that fits serves; when none fits the
// error is a 400 that states the estimate.
func TestContextWindowPrecheck(t *testing.T) {
	small := fp.New("google")
	small.SetDefault(fp.Text("small"))
	large := fp.New("ollama")
	large.SetDefault(fp.Text("large"))
	st, lt := gemini(small), ollama(large)
	st.ContextWindow, lt.ContextWindow = 100, 10_000
	r, _ := newTestRouter(t, testPolicy(), nil, st, lt)
	req := func(n int) *llm.Request {
		return &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: strings.Repeat("word ", n/5)}}}
	}
	collect := func(q *llm.Request) (string, error) {
		var text string
		for c, err := range r.Stream(context.Background(), q) {
			if err != nil {
				return text, err
			}
			text += c.Delta
		}
		return text, nil
	}
	// 396 bytes ≈ 99 + 4 tokens > 100: skipped.
	if text, err := collect(req(396)); err != nil || text != "large" || small.NumCalls() != 0 {
		t.Fatalf("over the small window: %q %v, %d calls to small", text, err, small.NumCalls())
	}
	if text, err := collect(req(300)); err != nil || text != "small" {
		t.Fatalf("within the small window: %q %v", text, err)
	}
	_, err := collect(req(50_000))
	if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), "(estimated) exceeds the context window") {
		t.Fatalf("too long for all: %v, want a 400 stating the estimate", err)
	}
	if small.NumCalls() != 1 || large.NumCalls() != 1 {
		t.Fatalf("calls %d, %d: a prompt that fits nowhere must not be sent", small.NumCalls(), large.NumCalls())
	}
	if got := EstimatePromptTokens(req(400)); got != 100+tokensPerMessage {
		t.Fatalf("estimate of 400 bytes in one message: %d, want %d", got, 100+tokensPerMessage)
	}
}
